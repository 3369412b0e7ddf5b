import type { MiddlewareHandler } from 'hono';
import type { Role } from '../../db/schema';
import { type Principal, type TokenSettings, verifyAccessToken } from '../../domain/auth/tokens';
import { DomainError } from '../../domain/errors';
import type { AppEnv } from '../context';
import { ProblemError } from '../problem';

const challenge = { 'www-authenticate': 'Bearer realm="orderflow"' };

/** The access token of an `Authorization: Bearer …` header, if it has one. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

/**
 * False once a token that was accepted stops being valid (expired, or its login ended); true while
 * it is, and when that cannot be known (Redis away: the revocation check fails open, as at sign-in).
 * Long-lived streams ask it at every heartbeat.
 */
export async function tokenStillValid(settings: TokenSettings, token: string): Promise<boolean> {
  try {
    await verifyAccessToken(settings, token);
    return true;
  } catch (err) {
    return !(err instanceof DomainError);
  }
}

/**
 * Requires a valid Bearer access token; with `roles`, also one of those roles (else 403). Behind
 * `authorize` (api/middleware/authorize.ts, which enforces api/access.ts for every route) the caller
 * is already admitted: the principal it set is kept (an API key's scope was checked there) and only the
 * role is checked again.
 */
export function requireAuth(settings: TokenSettings, ...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const admitted = c.get('principal');
    if (admitted) {
      if (!admitted.apiKeyId && roles.length > 0 && !roles.includes(admitted.role)) {
        throw new ProblemError(403, `This action needs the role: ${roles.join(' or ')}`);
      }
      return next();
    }
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new ProblemError(401, 'A Bearer access token is required', undefined, challenge);
    let principal: Principal;
    try {
      principal = await verifyAccessToken(settings, token);
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

/**
 * Owner-or-admin: the one rule for "a user's own resource". An API key reached the handler only with
 * the scope api/access.ts names for the route, and scopes are not per customer: it may.
 */
export function assertSelfOrAdmin(principal: Principal, ownerId: string): void {
  if (principal.apiKeyId) return;
  if (principal.role !== 'admin' && principal.userId !== ownerId) {
    throw new ProblemError(403, "You may not access another user's resource");
  }
}
