import { ReadThroughCache } from '../lib/cache';
import type { AppDeps } from './deps';

/** The API's read-through cache; its hits and misses are counted in this app's metrics. */
export function appCache(deps: AppDeps): ReadThroughCache {
  const metrics = deps.metrics;
  return new ReadThroughCache(
    deps.redis,
    deps.config.QUEUE_PREFIX,
    deps.config.CACHE_TTL_SECONDS,
    metrics ? { hit: (c) => metrics.cacheHit(c), miss: (c) => metrics.cacheMiss(c) } : undefined,
  );
}
