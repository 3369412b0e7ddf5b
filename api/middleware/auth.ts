import { type Principal, type TokenSettings, verifyAccessToken } from '../../domain/auth/tokens';
import { DomainError } from '../../domain/errors';
import { ProblemError } from '../problem';

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
 * Owner-or-admin: the one rule for "a user's own resource". An API key reached the handler only with
 * the scope api/access.ts names for the route, and scopes are not per customer: it may.
 */
export function assertSelfOrAdmin(principal: Principal, ownerId: string): void {
  if (principal.apiKeyId) return;
  if (principal.role !== 'admin' && principal.userId !== ownerId) {
    throw new ProblemError(403, "You may not access another user's resource");
  }
}
