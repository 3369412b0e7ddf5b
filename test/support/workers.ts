import type { Transports } from '../../domain/notifications/notifications';
import type { PaymentGateway } from '../../domain/payments/gateway';
import type { Resolve } from '../../domain/webhooks/addresses';
import { createLogger, type Logger } from '../../lib/logger';
import { connectRedis } from '../../lib/redis';
import { type QueueName, queueNames } from '../../queues/contract';
import type { PartitionedQueues } from '../../queues/partitioned';
import type { Metrics } from '../../wiring/metrics';
import { buildWorkerDeps, type WorkerDeps } from '../../workers/deps';
import { startPartitions } from '../../workers/partitions';
import type { WorkerSet } from '../../workers/run';
import type { Harness } from './harness';

export interface TestWorkers extends WorkerSet {
  deps: WorkerDeps;
  stop(): Promise<void>;
}

/** Workers as production runs them (same processors, own blocking connection), inside the test process. */
export async function startTestWorkers(
  h: Harness,
  opts: {
    queues?: QueueName[];
    concurrency?: number;
    partitions?: number[];
    gateway?: PaymentGateway;
    transports?: Transports;
    logger?: Logger;
    /** A registry to count into (e.g. the harness app's, so one /metrics shows API and workers). */
    metrics?: Metrics;
    /** Webhook hosts' resolution (names pointed anywhere; no external DNS here). */
    resolve?: Resolve;
  } = {},
): Promise<TestWorkers> {
  const redis = connectRedis(h.config, 'worker', 'orderflow-test-worker');
  redis.on('error', () => {});
  const logger = opts.logger ?? createLogger(h.config.LOG_LEVEL, { role: 'worker' });
  const deps = buildWorkerDeps(h.config, { db: h.db, redis }, logger, {
    ...(opts.gateway ? { gateway: opts.gateway } : {}),
    ...(opts.transports ? { transports: opts.transports } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.resolve ? { resolve: opts.resolve } : {}),
  });
  const { queues } = deps;
  // Every partition (one unless the test set QUEUE_PARTITIONS), as `bun run worker` takes them.
  const set = await startPartitions(
    deps,
    opts.queues ?? [...queueNames],
    opts.concurrency ?? 20,
    opts.partitions ?? deps.queues.families.map((_, i) => i),
  );
  return {
    ...set,
    deps,
    async stop() {
      await set.close(5000);
      await queues.close();
      redis.disconnect();
    },
  };
}

/**
 * Waits for a condition under a deadline (a slow, shared machine: never a fixed sleep). Two shapes:
 * `eventually(read, check, timeoutMs?, what?)` polls `read` until `check` accepts its value and returns
 * it; `eventually(condition, what, timeoutMs?)` polls a yes/no condition. On timeout the error names
 * what was awaited and the last value seen.
 */
export function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs?: number,
): Promise<void>;
export function eventually<T>(
  read: () => T | Promise<T>,
  check: (v: T) => boolean,
  timeoutMs?: number,
  what?: string,
): Promise<T>;
export async function eventually<T>(
  read: () => T | Promise<T>,
  checkOrWhat: ((v: T) => boolean) | string,
  timeoutMs = 20_000,
  what?: string,
): Promise<T | undefined> {
  const check = typeof checkOrWhat === 'string' ? (v: T) => v === true : checkOrWhat;
  const label = typeof checkOrWhat === 'string' ? checkOrWhat : (what ?? 'condition');
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!check(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}; last value: ${show(last)}`);
    await Bun.sleep(25);
    last = await read();
  }
  return typeof checkOrWhat === 'string' ? undefined : last;
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) =>
      x instanceof Map ? Object.fromEntries(x) : x instanceof Set ? [...x] : x,
    );
  } catch {
    return String(v);
  }
}

/** The saga's queues: every job a test's orders and messages make (the maintenance queue keeps its schedule). */
export const sagaQueues: QueueName[] = ['reserve', 'charge', 'notify', 'deliver'];

/**
 * Waits until the system has provably finished: no job of these queues (every partition) is
 * waiting, active, delayed, prioritized or waiting for children, and `settled` (e.g. "the test's
 * orders are final") holds. Only then is "no duplicate" worth asserting: nothing is left that could
 * still make one. Returns the last job counts seen.
 */
export async function drained(
  queues: PartitionedQueues,
  settled: () => boolean | Promise<boolean> = () => true,
  timeoutMs = 30_000,
  names: QueueName[] = sagaQueues,
) {
  const busy = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;
  const read = async () => {
    const counts: Record<string, number> = {};
    for (const family of queues.families)
      for (const name of names) {
        const c = await family.queues[name].getJobCounts(...busy);
        for (const state of busy)
          counts[`${name}.${state}`] = (counts[`${name}.${state}`] ?? 0) + (c[state] ?? 0);
      }
    return { counts, settled: await settled() };
  };
  return eventually(
    read,
    (r) => r.settled && Object.values(r.counts).every((n) => n === 0),
    timeoutMs,
    'every job drained and the system settled',
  );
}

export const finalStatuses = new Set(['completed', 'rejected', 'payment_failed', 'cancelled', 'failed']);
