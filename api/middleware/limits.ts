import { isIPv4, isIPv6 } from 'node:net';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../lib/config';
import type { RedisClient } from '../../lib/redis';
import { ProblemError } from '../problem';

/** The budgets the API counts in Redis; the name is the key's prefix and the 429's wording. */
export type RateLimitScope = 'ip' | 'user' | 'login' | 'login_address' | 'account' | 'order' | 'key';

export const WINDOW_SECONDS = 60;

export interface Check {
  scope: RateLimitScope;
  limiter: RateLimiterRedis;
  key: string;
}

export interface Verdict {
  scope: RateLimitScope;
  limit: number;
  remaining: number;
  resetSeconds: number;
}

/** One budget of `points` per minute, in Redis under `<prefix>:rl:<scope>`, shared by every process. */
export function redisLimiter(
  config: Pick<Config, 'QUEUE_PREFIX'>,
  redis: RedisClient,
  scope: RateLimitScope,
  points: number,
  blockSeconds = 0,
): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${config.QUEUE_PREFIX}:rl:${scope}`,
    points,
    duration: WINDOW_SECONDS,
    blockDuration: blockSeconds,
    // Fail at once while the connection is down instead of waiting for a command timeout.
    rejectIfRedisNotReady: true,
  });
}

export interface Consumed {
  passed: Verdict[];
  refused: Verdict[];
}

/**
 * Takes one point from every check at once (an atomic increment each: a burst sent together is
 * counted one by one, never all let through on a stale read). A check Redis could not answer is
 * handed to `unavailable` and neither passes nor refuses (fail open).
 */
export async function consumeAll(
  checks: readonly Check[],
  unavailable: (err: unknown, scope: RateLimitScope) => void,
): Promise<Consumed> {
  const settled = await Promise.allSettled(checks.map((ch) => ch.limiter.consume(ch.key)));
  const out: Consumed = { passed: [], refused: [] };
  settled.forEach((s, i) => {
    const check = checks[i];
    if (!check) return;
    const res = s.status === 'fulfilled' ? s.value : s.reason;
    if (!(res instanceof RateLimiterRes)) {
      unavailable(res, check.scope);
      return;
    }
    (s.status === 'fulfilled' ? out.passed : out.refused).push(verdict(check, res));
  });
  return out;
}

/** The 429 for the refusal that lasts longest, or undefined when nothing refused. */
export function tooMany(refused: Verdict[]): ProblemError | undefined {
  const worst = [...refused].sort((a, b) => b.resetSeconds - a.resetSeconds)[0];
  if (!worst) return undefined;
  return new ProblemError(
    429,
    `Too many requests (${worst.scope} limit of ${worst.limit}); retry in ${worst.resetSeconds} s`,
    undefined,
    { 'retry-after': String(worst.resetSeconds), ...rateLimitHeaders(worst) },
  );
}

export function verdict(check: Check, res: RateLimiterRes): Verdict {
  return {
    scope: check.scope,
    limit: check.limiter.points,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  };
}

export function rateLimitHeaders(v: Verdict): Record<string, string> {
  return {
    'ratelimit-limit': String(v.limit),
    'ratelimit-remaining': String(v.remaining),
    'ratelimit-reset': String(v.resetSeconds),
  };
}

/**
 * The key an address is counted under. IPv6 by its /64: one subscriber, host or cloud instance
 * usually gets a whole /64, so counting single addresses would give it 2^64 fresh budgets.
 * An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function addressKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  const lower = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped?.[1]) return mapped[1];
  const noZone = lower.split('%')[0] ?? lower;
  const [head = '', tail] = noZone.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (a.b.c.d) takes two groups; only the first four groups matter here.
  const rightGroups = right.flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const missing = tail === undefined ? 0 : 8 - left.length - rightGroups.length;
  const groups = [...left, ...Array.from({ length: missing }, () => '0'), ...rightGroups];
  const words = groups.map((g) => Number.parseInt(g, 16) || 0);
  // ::ffff:c000:207 is 192.0.2.7 written in hex.
  if (words.length === 8 && words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    const [hi = 0, lo = 0] = words.slice(6);
    return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  }
  return `${words
    .slice(0, 4)
    .map((w) => w.toString(16))
    .join(':')}::/64`;
}
