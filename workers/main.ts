import type { Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { type QueueName, queueNames } from '../queues/contract';
import { parsePartitions } from '../queues/partitions';
import { createQueues } from '../wiring/adapters';
import { createMetrics, PROMETHEUS_CONTENT_TYPE, scrapeAllowed, servePeerMetrics } from '../wiring/metrics';
import { openResources } from '../wiring/resources';
import { onShutdown, preflight, stopWhenOrphaned } from '../wiring/startup';
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

// `--name` is set by the supervisor (scripts/start.ts) for the processes it starts.
const flags = ['--queues', '--concurrency', '--partitions', '--name'] as const;

/**
 * `--queues reserve,charge --concurrency 50 --partitions 0,2` (or `--queues=…`); all queues,
 * WORKER_CONCURRENCY and every partition when omitted. Anything else is refused with a message naming
 * it: a typo (`--queue`) must not quietly start a process on every queue, nor an empty list start one
 * on none.
 */
export function parseWorkerArgs(argv: string[], defaultConcurrency: number, partitionCount = 1): WorkerArgs {
  const given = new Map<string, string>();
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!(flags as readonly string[]).includes(flag))
      throw new Error(`unknown argument ${JSON.stringify(arg)} (known: ${flags.join(', ')})`);
    if (given.has(flag)) throw new Error(`${flag}: given twice`);
    const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined || value.startsWith('--')) throw new Error(`${flag}: a value is missing`);
    given.set(flag, value);
  }
  const list = given.get('--queues');
  const names =
    list === undefined
      ? [...queueNames]
      : [
          ...new Set(
            list
              .split(',')
              .map((q) => q.trim())
              .filter(Boolean),
          ),
        ];
  if (names.length === 0) throw new Error(`--queues: name at least one of ${queueNames.join(', ')}`);
  const unknown = names.filter((n) => !(queueNames as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`--queues: unknown queue ${unknown.join(', ')} (known: ${queueNames.join(', ')})`);
  const raw = given.get('--concurrency');
  const concurrency =
    raw === undefined ? defaultConcurrency : /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
    throw new Error(`--concurrency: a whole number from 1 to 1000, not ${JSON.stringify(raw)}`);
  }
  const partitions = parsePartitions(given.get('--partitions'), partitionCount);
  const name = given.get('--name');
  return { queues: names as QueueName[], concurrency, partitions, ...(name ? { name } : {}) };
}

/** One worker process: its own connections, the named queues, and a graceful stop on SIGTERM/SIGINT. */
export async function runWorkerProcess(config: Config, args: WorkerArgs) {
  const logger = createLogger(config.LOG_LEVEL, {
    role: 'worker',
    ...(args.name ? { process: args.name } : {}),
  });
  const resources = await openResources(config, 'worker');
  // A worker process serves its own /metrics on WORKER_METRICS_PORT (off when unset); under the
  // supervisor it counts too, for the API's merged /metrics (METRICS_PEER_PORT).
  const queues = createQueues(config, resources.redis);
  const metrics =
    config.WORKER_METRICS_PORT || config.METRICS_PEER_PORT
      ? createMetrics({
          db: resources.db,
          queues: queues.all(),
          logger,
          ordersCacheSeconds: config.METRICS_ORDERS_CACHE_SECONDS,
          scrapeCacheSeconds: config.METRICS_CACHE_SECONDS,
        })
      : undefined;
  const deps = buildWorkerDeps(config, resources, logger, { queues, ...(metrics ? { metrics } : {}) });
  const metricsServer =
    metrics && config.WORKER_METRICS_PORT
      ? Bun.serve({
          port: config.WORKER_METRICS_PORT,
          hostname: config.WORKER_METRICS_HOST,
          fetch: async (req) => {
            if (new URL(req.url).pathname !== '/metrics') return new Response('not found', { status: 404 });
            // The same METRICS_TOKEN as the API's /metrics, when one is set.
            if (!scrapeAllowed(req.headers.get('authorization') ?? undefined, config.METRICS_TOKEN)) {
              return new Response('a Bearer METRICS_TOKEN is required', {
                status: 401,
                headers: { 'www-authenticate': 'Bearer realm="metrics"' },
              });
            }
            return new Response(await metrics.scrape(), {
              headers: { 'content-type': PROMETHEUS_CONTENT_TYPE },
            });
          },
        })
      : undefined;
  const peerServer = metrics ? servePeerMetrics(metrics, config) : undefined;
  const set = await startPartitions(deps, args.queues, args.concurrency, args.partitions, args.name);
  logger.info(
    { queues: args.queues, concurrency: args.concurrency, partitions: args.partitions },
    'workers started',
  );
  return {
    async stop() {
      await set.close(config.SHUTDOWN_GRACE_MS);
      await metricsServer?.stop();
      await peerServer?.stop(true);
      await queues.close();
      await resources.close();
      logger.info('workers stopped');
    },
  };
}

if (import.meta.main) {
  // A worker holds no JWT_SECRET (the supervisor gives it none): it signs and verifies no tokens.
  const config = await preflight('worker', 'orderflow-worker');
  let args: WorkerArgs;
  try {
    args = parseWorkerArgs(process.argv.slice(2), config.WORKER_CONCURRENCY, config.QUEUE_PARTITIONS);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const proc = await runWorkerProcess(config, args);
  const stop = onShutdown(() => proc.stop());
  if (args.name) stopWhenOrphaned(stop, config.SUPERVISOR_PID);
}
