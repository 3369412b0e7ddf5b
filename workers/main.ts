import type { Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createMetrics, PROMETHEUS_CONTENT_TYPE, scrapeAllowed } from '../lib/metrics';
import { openResources } from '../lib/resources';
import { flagValue, onShutdown, preflight, stopWhenOrphaned } from '../lib/startup';
import { createQueues } from '../lib/wiring';
import { type QueueName, queueNames } from '../queues/contract';
import { parsePartitions } from '../queues/partitions';
import { buildWorkerDeps } from './deps';
import { startPartitions } from './partitions';

export interface WorkerArgs {
  queues: QueueName[];
  concurrency: number;
  /** The partitions (flow families) it serves: all of QUEUE_PARTITIONS unless `--partitions 0,2`. */
  partitions: number[];
  /** Set by the supervisor (`worker-2`): names the process in its logs and in /system/workers. */
  name?: string;
}

/**
 * `--queues reserve,charge --concurrency 50 --partitions 0,2`; all queues, WORKER_CONCURRENCY and every
 * partition when omitted.
 */
export function parseWorkerArgs(argv: string[], defaultConcurrency: number, partitionCount = 1): WorkerArgs {
  const value = (flag: string) => flagValue(argv, flag);
  const names = value('--queues')
    ?.split(',')
    .map((q) => q.trim())
    .filter(Boolean) ?? [...queueNames];
  const unknown = names.filter((n) => !(queueNames as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`--queues: unknown queue ${unknown.join(', ')} (known: ${queueNames.join(', ')})`);
  const concurrency = Number(value('--concurrency') ?? defaultConcurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
    throw new Error('--concurrency: a whole number from 1 to 1000');
  }
  const partitions = parsePartitions(value('--partitions'), partitionCount);
  const name = value('--name');
  return { queues: names as QueueName[], concurrency, partitions, ...(name ? { name } : {}) };
}

/** One worker process: its own connections, the named queues, and a graceful stop on SIGTERM/SIGINT. */
export async function runWorkerProcess(config: Config, args: WorkerArgs) {
  const logger = createLogger(config.LOG_LEVEL, {
    role: 'worker',
    ...(args.name ? { process: args.name } : {}),
  });
  const resources = await openResources(config, 'worker');
  // A worker process serves its own /metrics on WORKER_METRICS_PORT (off when unset).
  const queues = createQueues(config, resources.redis);
  const metrics = config.WORKER_METRICS_PORT
    ? createMetrics({
        db: resources.db,
        queues: queues.all(),
        logger,
        ordersCacheSeconds: config.METRICS_ORDERS_CACHE_SECONDS,
      })
    : undefined;
  const deps = buildWorkerDeps(config, resources, logger, { queues, ...(metrics ? { metrics } : {}) });
  const metricsServer =
    metrics && config.WORKER_METRICS_PORT
      ? Bun.serve({
          port: config.WORKER_METRICS_PORT,
          fetch: async (req) => {
            if (new URL(req.url).pathname !== '/metrics') return new Response('not found', { status: 404 });
            // The same METRICS_TOKEN as the API's /metrics, when one is set.
            if (!scrapeAllowed(req.headers.get('authorization') ?? undefined, config.METRICS_TOKEN)) {
              return new Response('a Bearer METRICS_TOKEN is required', {
                status: 401,
                headers: { 'www-authenticate': 'Bearer realm="metrics"' },
              });
            }
            return new Response(await metrics.render(), {
              headers: { 'content-type': PROMETHEUS_CONTENT_TYPE },
            });
          },
        })
      : undefined;
  const set = await startPartitions(deps, args.queues, args.concurrency, args.partitions, args.name);
  logger.info(
    { queues: args.queues, concurrency: args.concurrency, partitions: args.partitions },
    'workers started',
  );
  return {
    async stop() {
      await set.close(config.SHUTDOWN_GRACE_MS);
      await metricsServer?.stop();
      await queues.close();
      await resources.close();
      logger.info('workers stopped');
    },
  };
}

if (import.meta.main) {
  const config = await preflight();
  let args: WorkerArgs;
  try {
    args = parseWorkerArgs(process.argv.slice(2), config.WORKER_CONCURRENCY, config.QUEUE_PARTITIONS);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const proc = await runWorkerProcess(config, args);
  const stop = onShutdown(() => proc.stop());
  if (args.name) stopWhenOrphaned(stop);
}
