import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis';

export interface CacheStats {
  hit(cache: string): void;
  miss(cache: string): void;
}

const noStats: CacheStats = { hit() {}, miss() {} };

interface Entry<T> {
  gen: string;
  value: T;
}

/**
 * Read-through cache in Redis with generation-checked entries. A write bumps the key's generation
 * (a fresh token) after it commits; an entry is served only while its generation is current. So a reader that
 * loaded the old row just before a write can store it, but nobody will read it: a read after a write
 * never shows the old value. Concurrent misses in one process share one load (no stampede); the TTL
 * bounds how long anything lives if an invalidation is lost with Redis.
 */
export class ReadThroughCache {
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly stats: CacheStats = noStats,
  ) {}

  /**
   * `keep`: whether a loaded value may be stored. A kind whose values change often without being worth
   * an invalidation each time (an order during its saga) stores only the values that no longer change.
   */
  async get<T>(kind: string, id: string, load: () => Promise<T>, keep?: (value: T) => boolean): Promise<T> {
    const key = this.valueKey(kind, id);
    let cached: [string | null, string | null];
    try {
      cached = (await this.redis.mget(key, this.genKey(kind, id))) as [string | null, string | null];
    } catch {
      return load(); // Redis is down: the database still answers.
    }
    const [raw, gen] = cached;
    const current = gen ?? '0';
    if (raw) {
      const entry = JSON.parse(raw) as Entry<T>;
      // `keep` again on a hit: an entry stored before this kind kept less (another release) is not served.
      if (entry.gen === current && (!keep || keep(entry.value))) {
        this.stats.hit(kind);
        return entry.value;
      }
    }
    this.stats.miss(kind);
    const shared = this.inflight.get(`${key}@${current}`);
    if (shared) return shared as Promise<T>;
    const loading = (async () => {
      const value = await load();
      if (keep && !keep(value)) return value;
      const entry: Entry<T> = { gen: current, value };
      await this.redis.set(key, JSON.stringify(entry), 'EX', this.ttlSeconds).catch(() => {});
      return value;
    })().finally(() => this.inflight.delete(`${key}@${current}`));
    this.inflight.set(`${key}@${current}`, loading);
    return loading;
  }

  private valueKey(kind: string, id: string) {
    return `${this.prefix}:cache:${kind}:${id}`;
  }

  private genKey(kind: string, id: string) {
    return cacheGenKey(this.prefix, kind, id);
  }
}

export const cacheGenKey = (prefix: string, kind: string, id: string) => `${prefix}:cache:gen:${kind}:${id}`;

/** Queues the generation bumps that make cached reads of these ids stale, on a caller's pipeline. */
export function bumpGenerations(
  pipeline: ChainableCommander,
  prefix: string,
  kind: string,
  ids: Iterable<string>,
): void {
  for (const id of ids) {
    // A generation only has to differ from every earlier one, not count: a fresh token set with its
    // expiry is one command where INCR + EXPIRE were two. It outlives any entry it guards (entries
    // expire; a stale generation is harmless).
    pipeline.set(cacheGenKey(prefix, kind, id), newGeneration(), 'EX', 86_400);
  }
}

let generations = 0;
const processTag = crypto.randomUUID().slice(0, 8);
/** Unique across processes and time: this process's tag, the clock, a counter. */
const newGeneration = () => `${processTag}.${Date.now().toString(36)}.${(generations++).toString(36)}`;

/** Marks cached reads of these ids stale; called after the write that changed them has committed. */
export async function invalidate(
  redis: RedisClient,
  prefix: string,
  kind: string,
  ids: Iterable<string>,
): Promise<void> {
  const pipeline = redis.pipeline();
  bumpGenerations(pipeline, prefix, kind, ids);
  if (pipeline.length) await pipeline.exec();
}
