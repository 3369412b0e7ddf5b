import { hostname } from 'node:os';
import { MetricsTime, type Processor, Worker } from 'bullmq';
import { BatchingEmailTransport } from '../domain/notifications/batching-email';
import { jobNames, type QueueName } from '../queues/contract';
import { jobTelemetry } from '../wiring/tracing';
import { chargeProcessor } from './charge';
import { deliverProcessor } from './deliver';
import type { WorkerDeps } from './deps';
import { notifyProcessor } from './notify';
import { reconcile } from './reconcile';
import { reserveProcessor } from './reserve';
import { giveUp, type StepName } from './step';
import { startDispatcher, webhookProcessor } from './webhooks';

export interface WorkerSet {
  workers: Worker[];
  /** Stops taking jobs; active ones get `deadlineMs` to finish, then are handed back to the queue. */
  close(deadlineMs: number): Promise<void>;
}

export const RECONCILE_SCHEDULER_ID = 'reconcile';

const isSagaStep = (queue: QueueName): queue is StepName =>
  queue === 'reserve' || queue === 'charge' || queue === 'notify';

function processorFor(deps: WorkerDeps, queue: QueueName, stopping: () => boolean): Processor {
  switch (queue) {
    case 'reserve':
      return reserveProcessor(deps);
    case 'charge':
      return chargeProcessor(deps);
    case 'notify':
      return notifyProcessor(deps);
    case 'deliver':
      return deliverProcessor(deps);
    case 'maintenance':
      return async () => {
        const report = await reconcile(deps);
        if (Object.values(report).some((n) => n > 0)) deps.logger.info(report, 'reconciled');
        return report;
      };
    case 'webhooks':
      return webhookProcessor(deps, stopping);
  }
}

/** Which flow family (partition) a worker set serves, and the process it reports itself as. */
export interface WorkerIdentity {
  /** The queues' key prefix: the partition's (queues/partitions.ts); QUEUE_PREFIX when absent. */
  prefix?: string;
  partition?: number;
  /** The supervisor's name for this process (`worker-2`). */
  process?: string;
}

/**
 * `deliver` jobs mostly wait for a provider request to carry them: two batches' worth in flight per
 * process fills every request while the next one is being collected (a `send-batch` job carries a
 * notify batch's messages, so fewer of those fill it; slots left free keep an admin's `send` job from
 * waiting for one). The provider's rate is kept by
 * the email transport (wiring/adapters.ts), per request, not by a BullMQ limiter per job: a job limiter
 * would hold the queue to EMAIL_RATE_MAX messages a period however many fit in one request.
 */
export const deliverConcurrency = (c: { EMAIL_BATCH_SIZE: number }) => 2 * c.EMAIL_BATCH_SIZE;

/** Runs the named queues in this process, with inline processors (Bun runs no sandboxed ones). */
export async function startWorkers(
  deps: WorkerDeps,
  queues: readonly QueueName[],
  concurrency: number,
  identity: WorkerIdentity = {},
): Promise<WorkerSet> {
  const startedAt = new Date().toISOString();
  const c = deps.config;
  const { prefix = c.QUEUE_PREFIX, ...labels } = identity;
  // bullmq-otel when tracing is on: each job's `process` span continues the trace it was added in.
  const telemetry = jobTelemetry();
  // Set by close(): a job that works in rounds (an endpoint's deliveries) takes no further round.
  let stopping = false;
  const isStopping = () => stopping;
  const workers = queues.map((queue) => {
    const worker = new Worker(queue, processorFor(deps, queue, isStopping), {
      connection: deps.redis,
      prefix,
      // Published in CLIENT LIST: GET /system/workers reads who is alive from it.
      name: JSON.stringify({ host: hostname(), pid: process.pid, queues, concurrency, startedAt, ...labels }),
      concurrency:
        queue === 'maintenance'
          ? 1
          : queue === 'deliver'
            ? deliverConcurrency(c)
            : queue === 'webhooks'
              ? c.WEBHOOK_CONCURRENCY
              : concurrency,
      // A killed process's jobs come back after one lock period; several stalls are tolerated because
      // every step is idempotent, and a real fault still fails the job through its attempts.
      lockDuration: c.WORKER_LOCK_MS,
      stalledInterval: c.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: c.WORKER_MAX_STALLED,
      metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
      ...(telemetry ? { telemetry } : {}),
    });
    worker.on('failed', (job, err) => {
      // A job failed by the stalled checker never reached its processor's catch: end the order here.
      if (job && /stalled/i.test(err.message) && isSagaStep(queue)) {
        const orderId = (job.data as { orderId?: string }).orderId;
        if (orderId) void giveUp(deps, job, orderId, queue);
      }
    });
    worker.on('error', (err) => deps.logger.error({ err, queue }, 'worker error'));
    const observe = (
      job: { name: string; processedOn?: number; finishedOn?: number },
      outcome: 'completed' | 'failed',
    ) => {
      if (deps.metrics && job.processedOn && job.finishedOn) {
        deps.metrics.observeJob({ queue, job: job.name, outcome }, (job.finishedOn - job.processedOn) / 1000);
      }
    };
    worker.on('completed', (job) => observe(job, 'completed'));
    worker.on('failed', (job) => job && observe(job, 'failed'));
    return worker;
  });

  if (queues.includes('maintenance')) {
    await deps.queues.queues.maintenance.upsertJobScheduler(
      RECONCILE_SCHEDULER_ID,
      { every: c.RECONCILE_EVERY_MS },
      { name: jobNames.reconcile, data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const dispatcher = queues.includes('webhooks') ? startDispatcher(deps) : undefined;

  return {
    workers,
    async close(deadlineMs) {
      stopping = true;
      await dispatcher?.stop();
      // pause() stops taking jobs and waits for the active ones. Not close(): a second close(true)
      // after the deadline would only return the first, graceful close and wait for ever.
      const drained = Promise.all(workers.map((w) => w.pause()));
      // Messages still waiting for a provider request go back to the queue now, uncounted, rather than
      // hold the shutdown for as long as the provider's rate makes them wait.
      if (deps.transports.email instanceof BatchingEmailTransport) deps.transports.email.handBack();
      const timedOut = await Promise.race([
        drained.then(
          () => false,
          () => true,
        ),
        Bun.sleep(deadlineMs).then(() => true),
      ]);
      if (timedOut) {
        deps.logger.warn(
          { deadlineMs },
          'shutdown deadline passed: active jobs are handed back to the queue',
        );
      }
      await Promise.all(workers.map((w) => w.close(timedOut)));
    },
  };
}
