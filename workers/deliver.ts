import type { Job } from 'bullmq';
import { markFailed, sendNotification } from '../domain/notifications/notifications';
import { SendJobData } from '../queues/contract';
import type { WorkerDeps } from './deps';
import { delayIfCircuitOpen, isFinalAttempt } from './step';

/** Sends one recorded message through its provider; the worker's limiter keeps to the provider's rate. */
export function deliverProcessor(deps: WorkerDeps) {
  return async (job: Job, token?: string) => {
    const { notificationId, orderId } = SendJobData.parse(job.data);
    try {
      const status = await sendNotification(deps.db, deps.config.piiKey, deps.transports, notificationId);
      deps.logger.info(
        { notificationId, orderId, status, attempt: job.attemptsMade + 1 },
        'message delivered',
      );
      return { status, changed: status === 'sent' };
    } catch (err) {
      await delayIfCircuitOpen(job, token, err);
      if (isFinalAttempt(job, err as Error))
        await markFailed(deps.db, notificationId, (err as Error).message);
      throw err;
    }
  };
}
