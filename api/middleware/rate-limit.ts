import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from 'hono/bun';
import { looksLikeApiKey } from '../../domain/api-keys/secrets';
import { type Principal, verifyAccessToken } from '../../domain/auth/tokens';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import type { RedisClient } from '../../lib/redis';
import type { Metrics } from '../../wiring/metrics';
import type { AppEnv } from '../context';
import { tokenSettings } from '../deps';
import {
  addressKey,
  type Check,
  consumeAll,
  type RateLimitScope,
  rateLimitHeaders,
  redisLimiter,
  tooMany,
} from './limits';
import { SignInLimits } from './sign-in-limit';

export type { RateLimitScope } from './limits';

export interface RateLimitDeps {
  config: Config;
  redis: RedisClient;
  logger: Logger;
  metrics?: Metrics;
}

const WARN_EVERY_MS = 10_000;
const loginPath = /^\/auth\/login\/?$/;
const ordersPath = /^\/orders\/?$/;
/** Probes and scrapes come from the node or the monitoring system; a 429 there would restart pods. */
const exemptPath = /^\/(health(\/|$)|metrics\/?$)/;
/** Whether the limiter lets this path through uncounted (the OpenAPI document lists 429 elsewhere). */
export const isRateLimitExempt = (path: string) => exemptPath.test(path);

/** A logger of "Redis could not count" that says it at most once per WARN_EVERY_MS. */
export function limiterWarning(logger: Logger, what: string): (err: unknown, scope: RateLimitScope) => void {
  let lastWarning = 0;
  return (err, scope) => {
    const now = Date.now();
    if (now - lastWarning < WARN_EVERY_MS) return;
    lastWarning = now;
    logger.warn({ err, scope }, `${what} unavailable (Redis); letting requests through`);
  };
}

/**
 * The API's rate limits, counted in Redis so that every API instance shares them:
 * - `ip`: every request, by client address (IPv6 by /64);
 * - `user`: every request with a valid Bearer token, by user;
 * - `login` and `account`: `POST /auth/login`, per address and email and per account from every
 *   address ({@link SignInLimits}, the same budgets the board's sign-in spends);
 * - `order`: `POST /orders`, by user.
 * One app-level middleware decodes the token itself (a signature check, no I/O), so the routes stay
 * as they are; a bad token is not limited per user here and is refused by the route's own auth.
 * When Redis cannot answer, requests pass (fail open) with a logged warning: readiness already
 * reports Redis down, and a limiter should not turn an outage into a wall of 500s.
 */
export function rateLimits(deps: RateLimitDeps): MiddlewareHandler<AppEnv> {
  const { config, redis, logger, metrics } = deps;
  if (!config.RATE_LIMITS) {
    return async (_c, next) => {
      await next();
    };
  }
  const limiters = {
    ip: redisLimiter(config, redis, 'ip', config.IP_RATE_LIMIT_PER_MINUTE),
    user: redisLimiter(config, redis, 'user', config.RATE_LIMIT_PER_MINUTE),
    order: redisLimiter(config, redis, 'order', config.ORDER_RATE_LIMIT_PER_MINUTE),
  };
  const signIn = new SignInLimits(config, redis);
  // Only who is asking matters for counting: the route's own auth checks revocation (one Redis read, not two).
  const { revocations: _notNeededHere, ...tokens } = tokenSettings(deps);
  const warn = limiterWarning(logger, 'rate limiter');

  return async (c, next) => {
    if (exemptPath.test(c.req.path)) return next();
    const ip = clientIp(c, config.TRUST_PROXY);
    const principal = await bearerPrincipal(c, tokens);
    const checks: Check[] = [{ scope: 'ip', limiter: limiters.ip, key: addressKey(ip) }];
    if (principal) checks.push({ scope: 'user', limiter: limiters.user, key: principal.userId });
    let loginEmailSeen: string | undefined;
    if (c.req.method === 'POST' && loginPath.test(c.req.path)) {
      loginEmailSeen = await loginEmail(c);
      checks.push(...signIn.addressChecks(ip, loginEmailSeen));
    }
    if (principal && c.req.method === 'POST' && ordersPath.test(c.req.path)) {
      checks.push({ scope: 'order', limiter: limiters.order, key: principal.userId });
    }

    const first = await consumeAll(checks, warn);
    // The account's budget is spent only by an attempt that every other limit let through.
    const second =
      loginEmailSeen !== undefined && first.refused.length === 0
        ? await consumeAll(signIn.accountChecks(loginEmailSeen), warn)
        : { passed: [], refused: [] };
    const passed = [...first.passed, ...second.passed];
    const refused = [...first.refused, ...second.refused];
    const refusal = tooMany(refused);
    if (refusal) {
      const worst = [...refused].sort((a, b) => b.resetSeconds - a.resetSeconds)[0];
      if (worst) metrics?.rateLimited(worst.scope);
      throw refusal;
    }

    await next();

    // The tightest limit is the one a client has to pace itself by.
    const tightest = passed.sort((a, b) => a.remaining - b.remaining || b.resetSeconds - a.resetSeconds)[0];
    if (tightest) {
      for (const [name, value] of Object.entries(rateLimitHeaders(tightest))) c.header(name, value);
    }
    if (loginEmailSeen !== undefined && c.res.status === 200) {
      await signIn.succeeded(ip, loginEmailSeen).catch((err: unknown) => warn(err, 'login'));
    }
  };
}

/**
 * The client's address: with TRUST_PROXY, the last X-Forwarded-For entry (the one our proxy
 * appended; earlier entries are whatever the client sent); otherwise the socket's peer address
 * when Bun serves the app; 'unknown' when neither exists (e.g. `app.request()` in tests).
 */
export function clientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req
      .header('x-forwarded-for')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .at(-1);
    if (forwarded) return forwarded.slice(0, 64);
  }
  try {
    const address = getConnInfo(c).remote.address;
    if (address) return address;
  } catch {
    // Not served by Bun.serve (no server in c.env): no socket to ask.
  }
  return 'unknown';
}

async function bearerPrincipal(
  c: Context,
  tokens: ReturnType<typeof tokenSettings>,
): Promise<Principal | undefined> {
  const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  // An API key is counted per key by the auth middleware, once it is known to be genuine.
  if (!match?.[1] || looksLikeApiKey(match[1])) return undefined;
  try {
    return await verifyAccessToken(tokens, match[1]);
  } catch {
    return undefined;
  }
}

/** The email a login names, normalised; '' when the body is not JSON with an email (the route refuses it). */
async function loginEmail(c: Context): Promise<string> {
  try {
    // Hono caches the parsed body, so the route's validator reads the same one afterwards.
    const body: unknown = await c.req.json();
    const email = typeof body === 'object' && body !== null ? (body as { email?: unknown }).email : undefined;
    return typeof email === 'string' ? email.trim().toLowerCase().slice(0, 254) : '';
  } catch {
    return '';
  }
}
