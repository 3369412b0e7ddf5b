import type { MiddlewareHandler } from 'hono';
import type { Role } from '../../db/schema';
import { type Principal, type TokenSettings, verifyAccessToken } from '../../domain/auth/tokens';
import type { AppEnv } from '../context';
import { ProblemError } from '../problem';

const challenge = { 'www-authenticate': 'Bearer realm="orderflow"' };

/** Requires a valid Bearer access token; with `roles`, also one of those roles (else 403). */
export function requireAuth(settings: TokenSettings, ...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new ProblemError(401, 'A Bearer access token is required', undefined, challenge);
    let principal: Principal;
    try {
      principal = await verifyAccessToken(settings, match[1]);
    } catch (err) {
      throw new ProblemError(401, (err as Error).message, undefined, challenge);
    }
    if (roles.length > 0 && !roles.includes(principal.role)) {
      throw new ProblemError(403, `This action needs the role: ${roles.join(' or ')}`);
    }
    c.set('principal', principal);
    await next();
  };
}

/** Owner-or-admin: the one rule for "a user's own resource". */
export function assertSelfOrAdmin(principal: Principal, ownerId: string): void {
  if (principal.role !== 'admin' && principal.userId !== ownerId) {
    throw new ProblemError(403, "You may not access another user's resource");
  }
}
