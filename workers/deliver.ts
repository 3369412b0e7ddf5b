import type { Job } from 'bullmq';
import { BatchingEmailTransport } from '../domain/notifications/batching-email';
import {
  groupedNotificationStore,
  markFailed,
  sendNotification,
  type Transports,
} from '../domain/notifications/notifications';
import { SendJobData } from '../queues/contract';
import type { WorkerDeps } from './deps';
import { delayIfCircuitOpen, isFinalAttempt } from './step';

/**
 * Sends one recorded message through its provider and records its answer. The email transport batches
 * the messages of concurrent jobs into few provider requests under the provider's rate; a job without a
 * priority (an admin's message, not an order's) takes the express lane and joins the next request.
 */
export function deliverProcessor(deps: WorkerDeps) {
  const { email } = deps.transports;
  const express: Transports =
    email instanceof BatchingEmailTransport ? { ...deps.transports, email: email.express } : deps.transports;
  // Order messages read and record their sends grouped (one statement per few milliseconds of
  // messages instead of two per message); an admin's message keeps its own statements, so it never
  // waits for a group to fill.
  const grouped = groupedNotificationStore(deps.db, {
    maxSize: deps.config.GROUP_COMMIT_MAX,
    maxWaitMs: deps.config.GROUP_COMMIT_WAIT_MS,
  });
  return async (job: Job, token?: string) => {
    const { notificationId, orderId } = SendJobData.parse(job.data);
    const transports = job.opts.priority ? deps.transports : express;
    try {
      const status = await sendNotification(
        deps.db,
        deps.config.piiKey,
        transports,
        notificationId,
        job.opts.priority ? grouped : undefined,
      );
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
