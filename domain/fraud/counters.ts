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
  /** A payment of this user's order disputed with their bank (a chargeback): counted as a failed payment. */
  recordDispute(userId: string, orderId: string, at: number): Promise<void>;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** How long a user's amount/units history lives without a new order (then they start afresh). */
const HISTORY_TTL_MS = 180 * DAY;
/** A bound per user and window: a flood of orders keeps the newest ones, never an unbounded set. */
const MAX_MEMBERS = 2000;
/** Over the bound by this many before it is trimmed (to the bound): one trim per 200 orders, not per order. */
const TRIM_SLACK = 200;
/**
 * Expiries are set with this much to spare and renewed only when less is left (the script keeps the
 * time they run out in the history hash, which it reads anyway): one PEXPIRE per hour and user for
 * the windows, per day for the history, instead of two per order.
 */
const WINDOWS_SPARE_MS = 60 * MINUTE;
const HISTORY_SPARE_MS = DAY;

/**
 * One Lua script per screening: adds the order (ZADD NX: a retried screening counts it once, and its
 * history is added once) and returns every counter. Exact sliding windows in one sorted set per user:
 * an order scored by its time, a token (its hash, never the token) by minus the time it was last
 * used, so the day's orders are the scores from +day up, its tokens those from -day down, and what
 * left the day lies between. Counted with ZCOUNT, so what left the day is only trimmed for memory:
 * when the expiry is renewed (hourly per active user) or the bound is reached. The failed payments
 * are counted only when the history says one happened in the last day (`fat`, set by
 * recordFailedPayment). It runs 7 commands for most orders (INFO counts each; 13 before, 20 before
 * that): two ZADD, three ZCOUNT, HMGET, HSET.
 */
const OBSERVE = `
local now = tonumber(ARGV[1])
local dayMs = tonumber(ARGV[6])
local day = now - dayMs
local max = tonumber(ARGV[9])
local slack = tonumber(ARGV[10])
local added = redis.call('ZADD', KEYS[1], 'NX', now, ARGV[2])
local tokenAdded = redis.call('ZADD', KEYS[1], -now, ARGV[3])
local orders = redis.call('ZCOUNT', KEYS[1], day, '+inf')
local tokens = redis.call('ZCOUNT', KEYS[1], '-inf', -day)
local recent = redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[7]), '+inf')
local h = redis.call('HMGET', KEYS[3], 'n', 'cents', 'units', 'wexp', 'hexp', 'fat')
local n, cents, units = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
local set = {}
if added == 1 then
  for _, v in ipairs({'n', n + 1, 'cents', cents + tonumber(ARGV[4]), 'units', units + tonumber(ARGV[5])}) do
    set[#set + 1] = v
  end
else
  -- Screened before: the history already holds this order; report it as it was the first time.
  n, cents, units = n - 1, cents - tonumber(ARGV[4]), units - tonumber(ARGV[5])
end
-- The windows live a day after the newest entry: renewed when the key is new (all it holds is what
-- was just added) or its recorded expiry is less than a day away.
local renewWindows = orders + tokens == added + tokenAdded or tonumber(h[4] or '0') < now + dayMs
if renewWindows or orders > max + slack or tokens > max + slack then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. -day, '(' .. day)
  -- Now the tokens hold the lowest ranks (the newest first), the orders the ones above (the oldest
  -- first): the bound keeps the newest MAX of each, trimmed once SLACK over it.
  if orders > max + slack then redis.call('ZREMRANGEBYRANK', KEYS[1], tokens, tokens + orders - max - 1) end
  if tokens > max + slack then redis.call('ZREMRANGEBYRANK', KEYS[1], max, tokens - 1) end
end
if renewWindows then
  local ttl = dayMs + tonumber(ARGV[11])
  redis.call('PEXPIRE', KEYS[1], ttl)
  set[#set + 1] = 'wexp'
  set[#set + 1] = now + ttl
end
local historyTtl = tonumber(ARGV[8])
local renewHistory = tonumber(h[5] or '0') < now + historyTtl
if renewHistory then
  set[#set + 1] = 'hexp'
  set[#set + 1] = now + historyTtl + tonumber(ARGV[12])
end
-- The last failure's time: none within the day means none to count. Not recorded yet (a new
-- history, or failures recorded before it was kept): counted, and marked from now on.
local failed = 0
if not h[6] or tonumber(h[6]) >= day then failed = redis.call('ZCOUNT', KEYS[2], day, '+inf') end
if not h[6] then
  set[#set + 1] = 'fat'
  set[#set + 1] = failed > 0 and now or 0
end
if #set > 0 then redis.call('HSET', KEYS[3], unpack(set)) end
if renewHistory then redis.call('PEXPIRE', KEYS[3], historyTtl + tonumber(ARGV[12])) end
return {
  math.min(recent, max),
  math.min(orders, max),
  math.min(tokens, max),
  failed,
  math.max(n, 0), math.max(cents, 0), math.max(units, 0)
}`;

/**
 * A declined payment: into the user's failed set (trimmed to the day, bounded, expiring a day after
 * the newest), and its time into the history (when there is one; else screening counts the set).
 */
const FAILED = `
local at = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (at - tonumber(ARGV[3])))
redis.call('ZADD', KEYS[1], at, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local last = redis.call('HGET', KEYS[2], 'fat')
  if not last or tonumber(last) < at then redis.call('HSET', KEYS[2], 'fat', at) end
end
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
  /** `orders` holds the user's orders and tokens (its name kept from when tokens had a key of their own). */
  private key(userId: string, what: 'orders' | 'failed' | 'history') {
    const tag = this.prefix.includes('{') ? userId : `{${userId}}`;
    return `${this.prefix}:risk:${tag}:${what}`;
  }

  async observeOrder(input: ObserveInput): Promise<CounterSignals> {
    return signals((await this.run(observeScript, 3, ...this.observeArgs(input))) as number[]);
  }

  async observeOrders(inputs: ObserveInput[]): Promise<PromiseSettledResult<CounterSignals>[]> {
    // A cluster's pipeline must stay in one slot, and each user has a slot of their own: one script
    // per order there (ioredis sends them concurrently). A single Redis takes them in one pipeline.
    if (inputs.length <= 1 || this.redis.isCluster)
      return Promise.allSettled(inputs.map((i) => this.observeOrder(i)));
    const pipeline = this.redis.pipeline();
    for (const input of inputs) pipeline.evalsha(observeScript.sha, 3, ...this.observeArgs(input));
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

  private observeArgs(input: ObserveInput): [string, string, string, ...(string | number)[]] {
    const tokenHash = new Bun.CryptoHasher('sha256').update(input.token).digest('hex').slice(0, 24);
    return [
      this.key(input.userId, 'orders'),
      this.key(input.userId, 'failed'),
      this.key(input.userId, 'history'),
      input.at,
      input.orderId,
      // Marked, so that no order id can ever equal a token's member.
      `t:${tokenHash}`,
      input.amountCents,
      input.units,
      DAY,
      10 * MINUTE,
      HISTORY_TTL_MS,
      MAX_MEMBERS,
      TRIM_SLACK,
      WINDOWS_SPARE_MS,
      HISTORY_SPARE_MS,
    ];
  }

  async recordFailedPayment(userId: string, orderId: string, at: number): Promise<void> {
    await this.run(
      failedScript,
      2,
      this.key(userId, 'failed'),
      this.key(userId, 'history'),
      at,
      orderId,
      DAY,
      MAX_MEMBERS,
    );
  }

  async recordDispute(userId: string, orderId: string, at: number): Promise<void> {
    // The model knows failed payments (a card that does not hold); a dispute is the strongest of them.
    // Its own member, so a declined charge and a dispute of one order count twice.
    await this.recordFailedPayment(userId, `dispute:${orderId}`, at);
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
