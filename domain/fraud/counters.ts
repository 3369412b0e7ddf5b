import type { Cluster, Redis } from 'ioredis';

/** What the per-user counters say when an order is screened (the order itself already counted). */
export interface CounterSignals {
  ordersLast10m: number;
  ordersLast24h: number;
  tokensLast24h: number;
  failedPaymentsLast24h: number;
  /** The user's screened orders before this one: how many, their total amount and units. */
  priorOrders: number;
  priorCents: number;
  priorUnits: number;
}

/** One order as the counters see it. */
export interface ObserveInput {
  userId: string;
  orderId: string;
  token: string;
  amountCents: number;
  units: number;
  at: number;
}

/** The counters screening reads and feeds; Redis in production and in tests (no scan of MySQL). */
export interface RiskCounters {
  /** Counts the order (once, however often it is screened) and reads every window in one call. */
  observeOrder(input: ObserveInput): Promise<CounterSignals>;
  /**
   * `observeOrder` for several orders at once (a charge batch): one round trip where the store allows
   * it. Each order gets its own answer or its own error.
   */
  observeOrders(inputs: ObserveInput[]): Promise<PromiseSettledResult<CounterSignals>[]>;
  /** A declined payment of this user's order. */
  recordFailedPayment(userId: string, orderId: string, at: number): Promise<void>;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** How long a user's amount/units history lives without a new order (then they start afresh). */
const HISTORY_TTL_MS = 180 * DAY;
/** A bound per user: a flood of orders keeps the newest ones, never an unbounded set. */
const MAX_MEMBERS = 2000;

/**
 * One Lua script per screening: trims the 24-hour windows, adds the order (ZADD NX: a retried
 * screening counts it once, and its history is added once), and returns every counter. Sorted sets
 * scored by time give exact sliding windows; the token set holds hashes, never the token. It runs
 * 13 commands (INFO counts each, 20 before): one per thing to do, a bound trimmed only when reached.
 */
const OBSERVE = `
local now = tonumber(ARGV[1])
local day = now - tonumber(ARGV[6])
local max = tonumber(ARGV[9])
for i = 1, 2 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. day) end
local added = redis.call('ZADD', KEYS[1], 'NX', now, ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[3])
local h = redis.call('HMGET', KEYS[4], 'n', 'cents', 'units')
local n, cents, units = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
if added == 1 then
  redis.call('HSET', KEYS[4], 'n', n + 1, 'cents', cents + tonumber(ARGV[4]), 'units', units + tonumber(ARGV[5]))
else
  -- Screened before: the history already holds this order; report it as it was the first time.
  n, cents, units = n - 1, cents - tonumber(ARGV[4]), units - tonumber(ARGV[5])
end
-- The bound: the newest MAX members stay; trimmed only when over it, which ZCARD tells.
local counts = {}
for i = 1, 2 do
  counts[i] = redis.call('ZCARD', KEYS[i])
  if counts[i] > max then
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -max - 1)
    counts[i] = max
  end
end
for i = 1, 2 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
redis.call('PEXPIRE', KEYS[4], ARGV[8])
-- The failed payments of the last day are counted, not trimmed: recordFailedPayment trims that key
-- and sets its expiry (a day after the newest failure, when none of its entries counts any more).
return {
  redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[7]), '+inf'),
  counts[1],
  counts[2],
  redis.call('ZCOUNT', KEYS[3], day, '+inf'),
  math.max(n, 0), math.max(cents, 0), math.max(units, 0)
}`;

const FAILED = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[3])))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

interface Script {
  src: string;
  sha: string;
}
const script = (src: string): Script => ({
  src,
  sha: new Bun.CryptoHasher('sha1').update(src).digest('hex'),
});
const observeScript = script(OBSERVE);
const failedScript = script(FAILED);

function signals(res: number[]): CounterSignals {
  const [ordersLast10m, ordersLast24h, tokensLast24h, failedPaymentsLast24h, n, cents, units] =
    res.map(Number);
  return {
    ordersLast10m: ordersLast10m ?? 1,
    ordersLast24h: ordersLast24h ?? 1,
    tokensLast24h: tokensLast24h ?? 1,
    failedPaymentsLast24h: failedPaymentsLast24h ?? 0,
    priorOrders: n ?? 0,
    priorCents: cents ?? 0,
    priorUnits: units ?? 0,
  };
}

export class RedisRiskCounters implements RiskCounters {
  constructor(
    // A single Redis or a Redis Cluster: the scripts' keys share a user's hash tag (key() below).
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
  ) {}

  /** One user's keys share a hash tag (unless the prefix carries one), so a script's keys share a slot. */
  private key(userId: string, what: 'orders' | 'tokens' | 'failed' | 'history') {
    const tag = this.prefix.includes('{') ? userId : `{${userId}}`;
    return `${this.prefix}:risk:${tag}:${what}`;
  }

  async observeOrder(input: ObserveInput): Promise<CounterSignals> {
    return signals((await this.run(observeScript, 4, ...this.observeArgs(input))) as number[]);
  }

  async observeOrders(inputs: ObserveInput[]): Promise<PromiseSettledResult<CounterSignals>[]> {
    // A cluster's pipeline must stay in one slot, and each user has a slot of their own: one script
    // per order there (ioredis sends them concurrently). A single Redis takes them in one pipeline.
    if (inputs.length <= 1 || this.redis.isCluster)
      return Promise.allSettled(inputs.map((i) => this.observeOrder(i)));
    const pipeline = this.redis.pipeline();
    for (const input of inputs) pipeline.evalsha(observeScript.sha, 4, ...this.observeArgs(input));
    const replies = (await pipeline.exec()) ?? [];
    return Promise.allSettled(
      inputs.map(async (input, i) => {
        const [err, res] = replies[i] ?? [new Error('no reply'), null];
        if (!err) return signals(res as number[]);
        // This Redis has not seen the script yet (or lost it): this order again, with its text.
        if (String(err.message).includes('NOSCRIPT')) return this.observeOrder(input);
        throw err;
      }),
    );
  }

  private observeArgs(input: ObserveInput): [string, string, string, string, ...(string | number)[]] {
    const tokenHash = new Bun.CryptoHasher('sha256').update(input.token).digest('hex').slice(0, 24);
    return [
      this.key(input.userId, 'orders'),
      this.key(input.userId, 'tokens'),
      this.key(input.userId, 'failed'),
      this.key(input.userId, 'history'),
      input.at,
      input.orderId,
      tokenHash,
      input.amountCents,
      input.units,
      DAY,
      10 * MINUTE,
      HISTORY_TTL_MS,
      MAX_MEMBERS,
    ];
  }

  async recordFailedPayment(userId: string, orderId: string, at: number): Promise<void> {
    await this.run(failedScript, 1, this.key(userId, 'failed'), at, orderId, DAY, MAX_MEMBERS);
  }

  /** EVALSHA, and the script's text only when this Redis has not seen it yet (or lost it). */
  private async run(s: Script, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(s.sha, numKeys, ...args);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return this.redis.eval(s.src, numKeys, ...args);
    }
  }
}
