import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'worker' | 'producer';

/** A single Redis or a Redis Cluster: BullMQ, the cache, the limits and pub/sub take either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: REDIS_CLUSTER_NODES (`host:port,…`) when set, else REDIS_URL. */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string | undefined;
}

// Reconnect forever with a capped backoff: the process heals when Redis comes back.
const retry = (times: number) => Math.min(times * 200, 2000);

/**
 * Workers block on Redis and must wait through an outage (`maxRetriesPerRequest: null`, as BullMQ
 * requires); the API's producers fail fast so a request answers 503 instead of hanging.
 */
function roleOptions(role: RedisRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableReadyCheck: true }
    : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 3000 };
}

export function createRedis(url: string, role: RedisRole, name = `orderflow-${role}`): Redis {
  return new Redis(url, {
    ...roleOptions(role),
    connectionName: name,
    lazyConnect: false,
    retryStrategy: retry,
  });
}

/** The seed nodes of REDIS_CLUSTER_NODES. */
export function clusterNodes(list: string): { host: string; port: number }[] {
  return list.split(',').map((node) => {
    const at = node.lastIndexOf(':');
    return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
  });
}

/**
 * The one place a process connects to Redis. On a cluster, ioredis's Cluster routes each command to
 * the node that owns its key's slot and follows MOVED/ASK; every multi-key command and pipeline of the
 * app stays within one hash tag (the prefix's), which is what a cluster allows.
 */
export function connectRedis(target: RedisTarget, role: RedisRole, name = `orderflow-${role}`): RedisClient {
  if (!target.REDIS_CLUSTER_NODES) return createRedis(target.REDIS_URL, role, name);
  const { enableOfflineQueue = true, retryStrategy: _perNode, ...perNode } = roleOptions(role);
  return new Cluster(clusterNodes(target.REDIS_CLUSTER_NODES), {
    // Offline queue and retries are the cluster's own options; the rest apply to each node.
    enableOfflineQueue,
    enableReadyCheck: true,
    clusterRetryStrategy: retry,
    // A node that is down is retried a few times, then the command fails (producers) or waits (workers).
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 200,
    slotsRefreshTimeout: 2000,
    redisOptions: { ...perNode, connectionName: name },
  });
}

/** The masters of a cluster, or the one Redis. */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * A second connection like `redis`, for SUBSCRIBE (a subscribed connection takes no other commands).
 * It waits through outages (`maxRetriesPerRequest: null`): a follower should resume, not fail.
 */
export function duplicateForSubscribe(
  redis: RedisClient,
  options: { enableOfflineQueue: boolean; autoResubscribe: boolean; connectionName: string },
): RedisClient {
  const { enableOfflineQueue, ...perNode } = options;
  if (redis instanceof Cluster) {
    return redis.duplicate(undefined, {
      enableOfflineQueue,
      redisOptions: { ...redis.options.redisOptions, ...perNode, maxRetriesPerRequest: null },
    });
  }
  return redis.duplicate({ ...options, maxRetriesPerRequest: null });
}

/** Removes every key under `prefix:` (SCAN on every master, never FLUSHALL: the Redis may be shared). */
export async function deletePrefixedKeys(redis: RedisClient, prefix: string): Promise<void> {
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      // One key per command: on a cluster, keys of different slots may not share a DEL.
      if (keys.length) await Promise.all(keys.map((k) => node.del(k)));
    } while (cursor !== '0');
  }
}
