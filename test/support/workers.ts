import type { Transports } from '../../domain/notifications/notifications';
import type { PaymentGateway } from '../../domain/payments/gateway';
import type { Resolve } from '../../domain/webhooks/addresses';
import { createLogger, type Logger } from '../../lib/logger';
import { connectRedis } from '../../lib/redis';
import { type QueueName, queueNames } from '../../queues/contract';
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

/** Polls until `check` passes or the time is up; the failure shows the last value seen. */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!check(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await Bun.sleep(50);
    last = await read();
  }
  return last;
}

export const finalStatuses = new Set(['completed', 'rejected', 'payment_failed', 'cancelled', 'failed']);
