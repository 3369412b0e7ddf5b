import type { Job, Processor } from 'bullmq';
import { failOrder } from '../domain/orders/compensate';
import { OrderJobData, type StepResult } from '../queues/contract';
import type { WorkerDeps } from './deps';

export type StepName = 'reserve' | 'charge' | 'notify';

/** True when this failure is the job's last: no retry will follow. */
export function isFinalAttempt(job: Job, err?: Error): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1) || err?.name === 'UnrecoverableError';
}

/**
 * Wraps one saga step: parses the payload, logs with the order id, and on the last failed attempt
 * ends the order as `failed` (stock released, money refunded) before BullMQ records the failure,
 * so the parent step that runs next already sees the final state.
 */
export function orderStep(
  deps: WorkerDeps,
  step: StepName,
  run: (orderId: string, job: Job) => Promise<StepResult>,
): Processor {
  return async (job: Job) => {
    const { orderId } = OrderJobData.parse(job.data);
    const log = deps.logger.child({ orderId, jobId: job.id, step, attempt: job.attemptsMade + 1 });
    const started = performance.now();
    try {
      const result = await run(orderId, job);
      log.info({ ...result, ms: Math.round(performance.now() - started) }, `${step} done`);
      return result;
    } catch (err) {
      log.warn({ err }, `${step} failed`);
      if (isFinalAttempt(job, err as Error)) await giveUp(deps, job, orderId, step);
      throw err;
    }
  };
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
