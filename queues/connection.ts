import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'worker' | 'producer';

/**
 * Workers block on Redis and must wait through an outage (`maxRetriesPerRequest: null`, as BullMQ
 * requires); the API's producers fail fast so a request answers 503 instead of hanging.
 */
export function createRedis(url: string, role: RedisRole, name = `orderflow-${role}`): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 3000 };
  return new Redis(url, {
    ...options,
    connectionName: name,
    lazyConnect: false,
    // Reconnect forever with a capped backoff: the process heals when Redis comes back.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

/** Removes every key under `prefix:` (SCAN, never FLUSHALL: the Redis may be shared). */
export async function deletePrefixedKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}
