import { preflight } from '../api/server';
import type { Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createMetrics, type Metrics, PROMETHEUS_CONTENT_TYPE, scrapeAllowed } from '../lib/metrics';
import { openResources } from '../lib/resources';
import { createQueues } from '../lib/wiring';
import { type QueueName, queueNames } from '../queues/contract';
import { buildWorkerDeps } from './deps';
import { startWorkers } from './run';

export interface WorkerArgs {
  queues: QueueName[];
  concurrency: number;
}

/** `--queues reserve,charge --concurrency 50`; all queues and WORKER_CONCURRENCY when omitted. */
export function parseWorkerArgs(argv: string[], defaultConcurrency: number): WorkerArgs {
  const value = (flag: string) => {
    const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    const arg = argv[i] ?? '';
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
  };
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
  return { queues: names as QueueName[], concurrency };
}

/** One worker process: its own connections, the named queues, and a graceful stop on SIGTERM/SIGINT. */
export async function runWorkerProcess(config: Config, args: WorkerArgs, shared?: Metrics) {
  const logger = createLogger(config.LOG_LEVEL, { role: 'worker' });
  const resources = await openResources(config, 'worker');
  // Alone, a worker process serves its own /metrics on WORKER_METRICS_PORT; beside the API it shares the API's.
  const queues = createQueues(config, resources.redis);
  const metrics =
    shared ??
    (config.WORKER_METRICS_PORT
      ? createMetrics({
          db: resources.db,
          queues: queues.queues,
          logger,
          ordersCacheSeconds: config.METRICS_ORDERS_CACHE_SECONDS,
        })
      : undefined);
  const deps = buildWorkerDeps(config, resources, logger, { queues, ...(metrics ? { metrics } : {}) });
  const metricsServer =
    !shared && metrics && config.WORKER_METRICS_PORT
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
  const set = await startWorkers(deps, args.queues, args.concurrency);
  logger.info({ queues: args.queues, concurrency: args.concurrency }, 'workers started');
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
    args = parseWorkerArgs(process.argv.slice(2), config.WORKER_CONCURRENCY);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const proc = await runWorkerProcess(config, args);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      await proc.stop();
      process.exit(0);
    });
  }
}
