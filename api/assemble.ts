import { configurePasswordHashing } from '../domain/users/passwords';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { createMetrics } from '../lib/metrics';
import { openResources, type Resources } from '../lib/resources';
import { createOrderContext, createQueues } from '../lib/wiring';
import { createApp } from './app';
import type { AppDeps } from './deps';
import { LiveTracking } from './live-tracking';

export interface AssembledApi {
  app: ReturnType<typeof createApp>;
  deps: Required<AppDeps>;
  resources: Resources;
  /** Live tracking's hub, caps and open connections (api/serve.ts ends them before stopping). */
  live: LiveTracking;
  /** Closes what the API opened: live tracking (streams and subscriber), the queues, Redis and MySQL. */
  close(): Promise<void>;
}

/** The API's composition root: its connections, queues, order context, metrics and app, built once. */
export async function assembleApi(config: Config, logger: Logger): Promise<AssembledApi> {
  configurePasswordHashing(config.PASSWORD_HASH_CONCURRENCY);
  const resources = await openResources(config, 'producer');
  const queues = createQueues(config, resources.redis);
  const metrics = createMetrics({
    db: resources.db,
    queues: queues.all(),
    logger,
    ordersCacheSeconds: config.METRICS_ORDERS_CACHE_SECONDS,
  });
  const deps: Required<AppDeps> = {
    config,
    logger,
    ...resources,
    queues,
    orders: createOrderContext(config, resources.db, resources.redis, undefined, (a) =>
      metrics.observeRisk(a),
    ),
    metrics,
  };
  const live = new LiveTracking(resources.redis, config, deps.metrics);
  return {
    app: createApp(deps, live),
    deps,
    resources,
    live,
    async close() {
      live.close();
      await queues.close();
      await resources.close();
    },
  };
}
