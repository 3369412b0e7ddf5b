import type { Job } from 'bullmq';
import {
  markFailed,
  prepareOutcomeNotifications,
  sendNotification,
} from '../domain/notifications/notifications';
import { completeOrder } from '../domain/orders/complete';
import { getOrderRow } from '../domain/orders/read';
import { jobNames, SendJobData } from '../queues/contract';
import type { WorkerDeps } from './deps';
import { delayIfCircuitOpen, isFinalAttempt, orderStep } from './step';

class NotFinalYet extends Error {}

/**
 * The notify queue carries two jobs: `outcome` (the saga's last step: complete a paid order, then
 * tell the customer whatever the final outcome is) and `send` (one recorded message).
 */
export function notifyProcessor(deps: WorkerDeps) {
  const outcome = orderStep(deps, 'notify', async (orderId) => {
    await completeOrder(deps.orders, orderId);
    const ids = await prepareOutcomeNotifications(deps.db, deps.config.piiKey, orderId);
    if (ids === null) {
      const { status } = await getOrderRow(deps.db, orderId);
      // An earlier step gave up and is still ending the order: retry shortly.
      throw new NotFinalYet(`order is ${status}, not final yet`);
    }
    for (const id of ids) await sendNotification(deps.db, deps.config.piiKey, deps.transports, id);
    const { status } = await getOrderRow(deps.db, orderId);
    return { status, changed: ids.length > 0 };
  });

  return async (job: Job, token?: string) => {
    if (job.name !== jobNames.send) return outcome(job, token);
    const { notificationId } = SendJobData.parse(job.data);
    try {
      const status = await sendNotification(deps.db, deps.config.piiKey, deps.transports, notificationId);
      return { status, changed: status === 'sent' };
    } catch (err) {
      await delayIfCircuitOpen(job, token, err);
      if (isFinalAttempt(job, err as Error))
        await markFailed(deps.db, notificationId, (err as Error).message);
      throw err;
    }
  };
}
