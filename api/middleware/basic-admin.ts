import type { MiddlewareHandler } from 'hono';
import { DomainError } from '../../domain/errors';
import { type PublicUser, verifyCredentials } from '../../domain/users/users';
import type { AppEnv } from '../context';
import type { AppDeps } from '../deps';
import { ProblemError } from '../problem';
import { clientIp, limiterWarning } from './rate-limit';
import { SignInLimits } from './sign-in-limit';

/** The realm the Basic challenge names (the queue dashboard's sign-in). */
export const DASHBOARD_REALM = 'orderflow-admin';

/** How long a verified Basic header is trusted without another argon2 check. */
const CACHE_TTL_MS = 30_000;
/** A bound on remembered headers, so that many distinct logins cannot grow the map without limit. */
const CACHE_MAX_ENTRIES = 256;

const challenge = { 'www-authenticate': `Basic realm="${DASHBOARD_REALM}", charset="UTF-8"` };

export type GuardDeps = Pick<AppDeps, 'db' | 'config' | 'redis' | 'logger'>;

interface CachedLogin {
  user: Promise<PublicUser>;
  expiresAt: number;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Buffer.from(digest).toString('hex');
}

function parseBasic(header: string | undefined): { email: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { email: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * HTTP Basic with an admin's email and password: the board's page and its many fetches carry
 * what the browser was given, never a Bearer token. A verified header is remembered briefly
 * (keyed by its hash, never the header itself), and concurrent first requests share one check.
 *
 * A check that runs argon2 first spends a sign-in attempt, the same budgets as `POST /auth/login`
 * ({@link SignInLimits}: per address and email, and per account): counted before the password is
 * looked at, so a burst of guesses sent at once gets at most the budget's worth of checks. A
 * remembered header costs nothing. Fails open when Redis cannot answer, as the API's other limits do.
 */
export function basicAdminGuard(deps: GuardDeps): MiddlewareHandler<AppEnv> {
  const cache = new Map<string, CachedLogin>();
  const signIn = deps.config.RATE_LIMITS ? new SignInLimits(deps.config, deps.redis) : undefined;
  const warn = limiterWarning(deps.logger, 'board sign-in limiter');

  const prune = (now: number) => {
    for (const [key, entry] of cache) if (entry.expiresAt <= now) cache.delete(key);
    // Still too many live entries: drop the oldest (a Map iterates in insertion order).
    for (const key of cache.keys()) {
      if (cache.size <= CACHE_MAX_ENTRIES) break;
      cache.delete(key);
    }
  };

  /** Spends an attempt, then checks the password; a success gives the attempt back as login does. */
  const check = async (ip: string, email: string, password: string): Promise<PublicUser> => {
    if (signIn) {
      const { refusal } = await signIn.admit(ip, email, warn);
      if (refusal) throw refusal;
    }
    const user = await verifyCredentials(deps.db, email, password);
    await signIn?.succeeded(ip, email).catch((err: unknown) => warn(err, 'login'));
    return user;
  };

  const verify = async (header: string, ip: string, email: string, password: string): Promise<PublicUser> => {
    const key = await sha256(header);
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.expiresAt > now) return hit.user;
    const user = check(ip, email, password);
    cache.set(key, { user, expiresAt: now + CACHE_TTL_MS });
    prune(now);
    // Only a successful verification is remembered: a failure, a 429 (or MySQL being down) is not.
    user.catch(() => {
      if (cache.get(key)?.user === user) cache.delete(key);
    });
    return user;
  };

  return async (c, next) => {
    const header = c.req.header('authorization');
    const credentials = parseBasic(header);
    if (!header || !credentials) {
      throw new ProblemError(
        401,
        'Sign in with an admin email and password (HTTP Basic)',
        undefined,
        challenge,
      );
    }
    const ip = clientIp(c, deps.config.TRUST_PROXY);
    let user: PublicUser;
    try {
      user = await verify(header, ip, credentials.email, credentials.password);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'unauthorized') {
        throw new ProblemError(401, err.message, undefined, challenge);
      }
      throw err;
    }
    if (user.role !== 'admin') throw new ProblemError(403, 'The queue dashboard is for admins only');
    c.set('principal', { userId: user.id, role: user.role });
    await next();
  };
}
