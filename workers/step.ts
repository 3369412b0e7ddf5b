import { DelayedError, type Job, type Processor, UnrecoverableError } from 'bullmq';
import { failOrder } from '../domain/orders/compensate';
import { CircuitOpenError } from '../domain/resilience';
import { activeSpan, tracingOn } from '../lib/tracing';
import type { OrderJobData, StepResult } from '../queues/contract';
import type { WorkerDeps } from './deps';

export type StepName = 'reserve' | 'charge' | 'notify';

/** True when this failure is the job's last: no retry will follow. */
export function isFinalAttempt(job: Job, err?: Error): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1) || err?.name === 'UnrecoverableError';
}

/**
 * Wraps one saga step: reads the payload, logs with the order id, and on the last failed attempt
 * ends the order as `failed` (stock released, money refunded) before BullMQ records the failure,
 * so the parent step that runs next already sees the final state.
 *
 * The payload is ours (queues/producer.ts wrote it), so it is not parsed with zod on every job, and
 * the log line is built only when its level is on (no logger child per job): both showed in the
 * worker's CPU profile.
 */
export function orderStep(
  deps: WorkerDeps,
  step: StepName,
  run: (orderId: string, job: Job) => Promise<StepResult>,
): Processor {
  return async (job: Job, token?: string) => {
    const { orderId, requestId } = job.data as OrderJobData;
    if (typeof orderId !== 'string' || orderId.length === 0) {
      throw new UnrecoverableError(`job ${job.id} carries no order id`);
    }
    const started = performance.now();
    const context = () => ({ orderId, requestId, jobId: job.id, step, attempt: job.attemptsMade + 1 });
    try {
      const result = tracingOn() ? await traced(step, orderId, job, run) : await run(orderId, job);
      if (deps.logger.isLevelEnabled('info')) {
        deps.logger.info(
          { ...context(), ...result, ms: Math.round(performance.now() - started) },
          `${step} done`,
        );
      }
      return result;
    } catch (err) {
      await delayIfCircuitOpen(job, token, err);
      deps.logger.warn({ ...context(), err }, `${step} failed`);
      if (isFinalAttempt(job, err as Error)) await giveUp(deps, job, orderId, step);
      throw err;
    }
  };
}

/**
 * The order's span of this step is BullMQ's `process <queue>` span (in the order's trace: the job
 * carries it); the order's attributes go on it, and the batch that decides the step links to it. A
 * span of our own under it doubled the spans of an order for nothing. Called only with tracing on.
 */
async function traced(
  step: StepName,
  orderId: string,
  job: Job,
  run: (orderId: string, job: Job) => Promise<StepResult>,
): Promise<StepResult> {
  const span = activeSpan();
  span?.setAttributes({
    'order.id': orderId,
    'messaging.destination.name': step,
    'job.id': job.id ?? '',
    'job.attempt': job.attemptsMade + 1,
  });
  const result = await run(orderId, job);
  span?.setAttribute('order.status', result.status);
  return result;
}

/**
 * While a dependency's circuit is open, a job waits (delayed, its attempt not counted) instead of
 * failing: an outage of the gateway or the email provider does not use up the order's attempts.
 */
export async function delayIfCircuitOpen(job: Job, token: string | undefined, err: unknown): Promise<void> {
  if (!(err instanceof CircuitOpenError) || !token) return;
  await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
  throw new DelayedError(err.message);
}

export async function giveUp(deps: WorkerDeps, job: Job, orderId: string, step: string): Promise<void> {
  try {
    const outcome = await failOrder(deps.orders, orderId, `${step}_failed`);
    // Inside a flow the parent notify runs next and tells the customer; a lone job has no parent.
    if (outcome.changed && !job.parentKey) await deps.queues.notifyOutcome(orderId, 'failed');
    deps.logger.error({ orderId, step, status: outcome.status }, 'step gave up; order ended');
  } catch (err) {
    // MySQL or Redis is down too: the reconciler finds the order later.
    deps.logger.error({ err, orderId, step }, 'could not end the order after the step gave up');
  }
}
