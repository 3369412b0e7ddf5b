import type { Job } from 'bullmq';
import { BatchingEmailTransport } from '../domain/notifications/batching-email';
import {
  groupedNotificationStore,
  markFailed,
  sendNotification,
  type Transports,
} from '../domain/notifications/notifications';
import { markBatchFailed, sendBatch } from '../domain/notifications/send-batch';
import { inSpan, linkedToItems, tracingOn } from '../lib/tracing';
import { jobNames, SendJobData } from '../queues/contract';
import type { WorkerDeps } from './deps';
import { delayIfCircuitOpen, isFinalAttempt } from './step';

/**
 * Sends recorded messages through their providers and records their answers: a `send-batch` job all
 * the messages of one notify batch, a `send` job one message (an admin's, a cancel's or an expiry's,
 * an older release's). The email transport puts the messages of concurrent sends into few provider
 * requests under the provider's rate; a job without a priority (an admin's message, not an order's)
 * takes the express lane and joins the next request.
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
  const batch = batchProcessor(deps);
  return async (job: Job, token?: string) => {
    if (job.name === jobNames.sendBatch) return batch(job, token);
    const { notificationId, orderId } = SendJobData.parse(job.data);
    const transports = job.opts.priority ? deps.transports : express;
    try {
      const send = () =>
        sendNotification(
          deps.db,
          deps.config.piiKey,
          transports,
          notificationId,
          job.opts.priority ? grouped : undefined,
        );
      // In the trace the job was added in: the order's (a cancel's, a lone reservation's message).
      const status = tracingOn()
        ? await inSpan(
            'deliver',
            { 'order.id': orderId ?? '', 'job.id': job.id ?? '', 'job.attempt': job.attemptsMade + 1 },
            send,
          )
        : await send();
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

/**
 * A notify batch's messages, one job: each message still keeps its own status. A message is marked
 * `sent` only while `queued` and after its provider answered; a permanent refusal fails that message
 * alone; a transient error of any message makes the job retry, and the retry reads only the messages
 * still queued (those already sent are not sent again). The last attempt fails those still queued.
 */
function batchProcessor(deps: WorkerDeps) {
  return async (job: Job, token?: string) => {
    const sendJob = job.id;
    if (!sendJob) throw new Error('a send-batch job has no id');
    try {
      // The batch's span links to each of its orders' traces, and each message's send is a span of its
      // order's trace (the traces came with the job, queues/producer.ts sendMany).
      const traces = (job.data as { traces?: Record<string, string> }).traces;
      const send = () => sendBatch(deps.db, deps.config.piiKey, deps.transports, sendJob);
      const { messages, retry } = tracingOn()
        ? await linkedToItems(
            'deliver batch',
            traces,
            { 'job.id': sendJob, 'job.attempt': job.attemptsMade + 1 },
            send,
          )
        : await send();
      if (deps.logger.isLevelEnabled('info')) {
        const attempt = job.attemptsMade + 1;
        for (const { id, orderId, status } of messages) {
          const line = { notificationId: id, orderId, sendJob, status, attempt };
          if (status === 'queued') deps.logger.info(line, 'message not delivered yet; its batch retries');
          else deps.logger.info(line, 'message delivered');
        }
      }
      if (retry) throw retry;
      const sent = messages.filter((m) => m.status === 'sent').length;
      return { sent, failed: messages.length - sent, changed: messages.length > 0 };
    } catch (err) {
      await delayIfCircuitOpen(job, token, err);
      if (isFinalAttempt(job, err as Error)) await markBatchFailed(deps.db, sendJob, (err as Error).message);
      throw err;
    }
  };
}
