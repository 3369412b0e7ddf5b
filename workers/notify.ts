import { prepareOutcomeNotifications } from '../domain/notifications/notifications';
import { completeOrder } from '../domain/orders/complete';
import { getOrderRow } from '../domain/orders/read';
import type { WorkerDeps } from './deps';
import { orderStep } from './step';

class NotFinalYet extends Error {}

/**
 * The saga's last step: complete a paid order, then record the messages that tell the customer
 * whatever the final outcome is, and hand them to the `deliver` queue (which keeps to the
 * providers' rate limit). Runs again safely: completing is a compare-and-set, messages are
 * deduplicated per order and outcome, and send jobs have the message's id.
 */
export function notifyProcessor(deps: WorkerDeps) {
  return orderStep(deps, 'notify', async (orderId) => {
    await completeOrder(deps.orders, orderId);
    const ids = await prepareOutcomeNotifications(deps.db, deps.config.piiKey, orderId);
    const { status } = await getOrderRow(deps.db, orderId);
    // An earlier step gave up and is still ending the order: retry shortly.
    if (ids === null) throw new NotFinalYet(`order is ${status}, not final yet`);
    for (const id of ids) await deps.queues.send(id, orderId);
    return { status, changed: ids.length > 0 };
  });
}
