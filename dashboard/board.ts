import { Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../api/context';
import type { AppDeps } from '../api/deps';
import { clientIp, limiterWarning } from '../api/middleware/rate-limit';
import { SignInLimits } from '../api/middleware/sign-in-limit';
import { ProblemError } from '../api/problem';
import { DomainError } from '../domain/errors';
import { type PublicUser, verifyCredentials } from '../domain/users/users';

export const DASHBOARD_PATH = '/admin/queues';
export const DASHBOARD_REALM = 'orderflow-admin';

/** How long a verified Basic header is trusted without another argon2 check. */
const CACHE_TTL_MS = 30_000;
/** A bound on remembered headers, so that many distinct logins cannot grow the map without limit. */
const CACHE_MAX_ENTRIES = 256;

const challenge = { 'www-authenticate': `Basic realm="${DASHBOARD_REALM}", charset="UTF-8"` };

type GuardDeps = Pick<AppDeps, 'db' | 'config' | 'redis' | 'logger'>;

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

/** Marks the answer of a path the board has no route for: the API's own 404 answers it instead. */
const UNMATCHED = 'x-orderflow-board-unmatched';

/**
 * Bull Board over every queue of the order platform, retries and job inspection enabled, behind the
 * Basic admin guard. Mount it at {@link DASHBOARD_PATH}; its errors go through the parent app's
 * problem+json handler.
 *
 * The board (Bull Board's packages, its adapters over every queue) is loaded on the first request that
 * passes the guard, not at start: most API processes never serve it, and its module graph is several
 * MB of every process's resident memory.
 */
export function dashboardRoutes(deps: GuardDeps & Pick<AppDeps, 'queues'>): Hono<AppEnv> {
  let ui: Promise<Hono> | undefined;
  const loadUi = () => {
    ui ??= import('./ui').then(({ boardUi }) => {
      const app = new Hono();
      app.route(DASHBOARD_PATH, boardUi(deps, DASHBOARD_PATH));
      // Errors reach the API's problem+json handler, as they did when the board was mounted directly.
      app.onError((err) => {
        throw err;
      });
      app.notFound((c) => c.body(null, 404, { [UNMATCHED]: '1' }));
      return app;
    });
    // A failed load is tried again by the next request rather than remembered.
    ui.catch(() => {
      ui = undefined;
    });
    return ui;
  };

  const board = new Hono<AppEnv>();
  board.use('*', basicAdminGuard(deps));
  board.use('*', async (c, next) => {
    // The board's own links end in a slash (its <base href>); the page itself is served without one.
    if (c.req.path === `${DASHBOARD_PATH}/`) return c.redirect(DASHBOARD_PATH, 302);
    await next();
    // Job data and the page are per-admin: keep them out of shared caches (the hashed static files may stay).
    if (!c.req.path.startsWith(`${DASHBOARD_PATH}/static/`) && !c.res.headers.has('cache-control')) {
      c.header('cache-control', 'private, no-store');
    }
  });
  board.all('*', async (c, next) => {
    const res = await (await loadUi()).fetch(c.req.raw, c.env);
    if (res.headers.has(UNMATCHED)) return next();
    return res;
  });
  return board;
}

/** Adds the dashboard to an app at {@link DASHBOARD_PATH}. */
export function mountDashboard(app: Hono<AppEnv>, deps: GuardDeps & Pick<AppDeps, 'queues'>): void {
  app.route(DASHBOARD_PATH, dashboardRoutes(deps));
}
