import { configurePasswordHashing } from '../domain/users/passwords';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { createMetrics } from '../lib/metrics';
import { openResources, type Resources } from '../lib/resources';
import { createOrderContext, createQueues } from '../lib/wiring';
import { createApp } from './app';
import type { AppDeps } from './deps';
import { OrderEventHub } from './live';

export interface AssembledApi {
  app: ReturnType<typeof createApp>;
  deps: Required<AppDeps>;
  resources: Resources;
  /** Closes what the API opened: the live-tracking subscriber, the queues, Redis and MySQL. */
  close(): Promise<void>;
}

/** The API's composition root: its connections, queues, order context, metrics and app, built once. */
export async function assembleApi(config: Config, logger: Logger): Promise<AssembledApi> {
  configurePasswordHashing(config.PASSWORD_HASH_CONCURRENCY);
  const resources = await openResources(config, 'producer');
  const queues = createQueues(config, resources.redis);
  const hub = new OrderEventHub(resources.redis, config.QUEUE_PREFIX);
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
  return {
    app: createApp(deps, hub),
    deps,
    resources,
    async close() {
      hub.close();
      await queues.close();
      await resources.close();
    },
  };
}
