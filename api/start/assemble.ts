import { createPool, oneRoundTripWriter } from '../../db/client';
import { configurePasswordHashing } from '../../domain/users/passwords';
import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import { peersFromConfig } from '../../lib/metrics-peers';
import { tracingOn } from '../../lib/tracing';
import { createOrderContext, createQueues, createStripeRefundLister } from '../../wiring/adapters';
import { createMetrics } from '../../wiring/metrics';
import { openResources, type Resources } from '../../wiring/resources';
import { createApp } from '../app';
import type { AppDeps } from '../deps';
import { LiveTracking } from '../live/tracking';

export interface AssembledApi {
  app: ReturnType<typeof createApp>;
  deps: Required<AppDeps>;
  resources: Resources;
  /** Live tracking's hub, caps and open connections (api/start/serve.ts ends them before stopping). */
  live: LiveTracking;
  /** Closes what the API opened: live tracking (streams and subscriber), the queues, Redis and MySQL. */
  close(): Promise<void>;
}

/** The API's composition root: its connections, queues, order context, metrics and app, built once. */
export async function assembleApi(config: Config, logger: Logger): Promise<AssembledApi> {
  configurePasswordHashing(config.PASSWORD_HASH_CONCURRENCY);
  const resources = await openResources(config, 'producer');
  const queues = createQueues(config, resources.redis);
  // Under `bun run start`, one scrape covers every process it supervises (lib/metrics-peers.ts).
  const peers = peersFromConfig(config);
  const metrics = createMetrics({
    db: resources.db,
    queues: queues.all(),
    logger,
    ordersCacheSeconds: config.METRICS_ORDERS_CACHE_SECONDS,
    scrapeCacheSeconds: config.METRICS_CACHE_SECONDS,
    ...(peers ? { peers } : {}),
  });
  // A few connections that accept multi-statement queries, for the placing batches only (see
  // oneRoundTripWriter): a batch holds one for one round trip.
  const placingPool = createPool(
    config.DATABASE_URL,
    Math.max(2, Math.ceil(config.DATABASE_POOL_SIZE / 4)),
    {
      acquireTimeoutMs: config.DATABASE_POOL_ACQUIRE_TIMEOUT_MS,
      queueLimit: config.DATABASE_POOL_QUEUE_LIMIT,
    },
    true,
  );
  const deps: Required<AppDeps> = {
    config,
    logger,
    ...resources,
    queues,
    orders: createOrderContext(config, resources.db, resources.redis, undefined, (a) =>
      metrics.observeRisk(a),
    ),
    metrics,
    writeTransaction: oneRoundTripWriter(placingPool),
    stripeRefunds: createStripeRefundLister(config) ?? null,
  };
  const live = new LiveTracking(resources.redis, config, deps.metrics);
  // @hono/otel is loaded only when tracing is on: off, no request pays for it.
  const tracing = tracingOn() ? (await import('../middleware/tracing')).tracingMiddleware() : [];
  return {
    app: createApp(deps, live, tracing),
    deps,
    resources,
    live,
    async close() {
      live.close();
      await queues.close();
      await placingPool.end().catch(() => {});
      await resources.close();
    },
  };
}
