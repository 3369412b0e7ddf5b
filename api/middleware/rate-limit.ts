import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from 'hono/bun';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { type Principal, verifyAccessToken } from '../../domain/auth/tokens';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import type { Metrics } from '../../lib/metrics';
import type { RedisClient } from '../../queues/connection';
import type { AppEnv } from '../context';
import { tokenSettings } from '../deps';
import { ProblemError } from '../problem';

export type RateLimitScope = 'ip' | 'user' | 'login' | 'order';

export interface RateLimitDeps {
  config: Config;
  redis: RedisClient;
  logger: Logger;
  metrics?: Metrics;
}

interface Check {
  scope: RateLimitScope;
  limiter: RateLimiterRedis;
  key: string;
}

interface Verdict {
  scope: RateLimitScope;
  limit: number;
  remaining: number;
  resetSeconds: number;
}

const WINDOW_SECONDS = 60;
const WARN_EVERY_MS = 10_000;
const loginPath = /^\/auth\/login\/?$/;
const ordersPath = /^\/orders\/?$/;
/** Probes and scrapes come from the node or the monitoring system; a 429 there would restart pods. */
const exemptPath = /^\/(health(\/|$)|metrics\/?$)/;

/**
 * The API's rate limits, counted in Redis so that every API instance shares them:
 * - `ip`: every request, by client address;
 * - `user`: every request with a valid Bearer token, by user;
 * - `login`: `POST /auth/login`, by address and email (brute force), blocked for a while once spent;
 *   a successful login clears its counter;
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
  const limiter = (scope: RateLimitScope, points: number, blockSeconds = 0) =>
    new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${config.QUEUE_PREFIX}:rl:${scope}`,
      points,
      duration: WINDOW_SECONDS,
      blockDuration: blockSeconds,
      // Fail at once while the connection is down instead of waiting for a command timeout.
      rejectIfRedisNotReady: true,
    });
  const limiters = {
    ip: limiter('ip', config.IP_RATE_LIMIT_PER_MINUTE),
    user: limiter('user', config.RATE_LIMIT_PER_MINUTE),
    login: limiter('login', config.LOGIN_RATE_LIMIT_PER_MINUTE, config.LOGIN_BLOCK_SECONDS),
    order: limiter('order', config.ORDER_RATE_LIMIT_PER_MINUTE),
  };
  // Only who is asking matters for counting: the route's own auth checks revocation (one Redis read, not two).
  const { revocations: _notNeededHere, ...tokens } = tokenSettings(deps);
  let lastWarning = 0;
  const warn = (err: unknown, scope: RateLimitScope) => {
    const now = Date.now();
    if (now - lastWarning < WARN_EVERY_MS) return;
    lastWarning = now;
    logger.warn({ err, scope }, 'rate limiter unavailable (Redis); letting requests through');
  };

  return async (c, next) => {
    if (exemptPath.test(c.req.path)) return next();
    const ip = clientIp(c, config.TRUST_PROXY);
    const principal = await bearerPrincipal(c, tokens);
    const checks: Check[] = [{ scope: 'ip', limiter: limiters.ip, key: ip }];
    if (principal) checks.push({ scope: 'user', limiter: limiters.user, key: principal.userId });
    let loginKey: string | undefined;
    if (c.req.method === 'POST' && loginPath.test(c.req.path)) {
      loginKey = `${ip}|${await loginEmail(c)}`;
      checks.push({ scope: 'login', limiter: limiters.login, key: loginKey });
    }
    if (principal && c.req.method === 'POST' && ordersPath.test(c.req.path)) {
      checks.push({ scope: 'order', limiter: limiters.order, key: principal.userId });
    }

    const settled = await Promise.allSettled(checks.map((ch) => ch.limiter.consume(ch.key)));
    const passed: Verdict[] = [];
    const refused: Verdict[] = [];
    settled.forEach((s, i) => {
      const check = checks[i];
      if (!check) return;
      const res = s.status === 'fulfilled' ? s.value : s.reason;
      if (!(res instanceof RateLimiterRes)) {
        warn(res, check.scope);
        return;
      }
      (s.status === 'fulfilled' ? passed : refused).push(verdict(check, res));
    });

    const worst = refused.sort((a, b) => b.resetSeconds - a.resetSeconds)[0];
    if (worst) {
      metrics?.rateLimited(worst.scope);
      throw new ProblemError(
        429,
        `Too many requests (${worst.scope} limit of ${worst.limit}); retry in ${worst.resetSeconds} s`,
        undefined,
        { 'retry-after': String(worst.resetSeconds), ...rateLimitHeaders(worst) },
      );
    }

    await next();

    // The tightest limit is the one a client has to pace itself by.
    const tightest = passed.sort((a, b) => a.remaining - b.remaining || b.resetSeconds - a.resetSeconds)[0];
    if (tightest) {
      for (const [name, value] of Object.entries(rateLimitHeaders(tightest))) c.header(name, value);
    }
    if (loginKey && c.res.status === 200) {
      await limiters.login.delete(loginKey).catch((err: unknown) => warn(err, 'login'));
    }
  };
}

function verdict(check: Check, res: RateLimiterRes): Verdict {
  return {
    scope: check.scope,
    limit: check.limiter.points,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  };
}

function rateLimitHeaders(v: Verdict): Record<string, string> {
  return {
    'ratelimit-limit': String(v.limit),
    'ratelimit-remaining': String(v.remaining),
    'ratelimit-reset': String(v.resetSeconds),
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
  if (!match?.[1]) return undefined;
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
