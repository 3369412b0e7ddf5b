import { completeAndRecordOutcomes, type Finished } from '../domain/notifications/outcomes';
import type { WorkerDeps } from './deps';
import { stepBatcher } from './group';
import { orderStep } from './step';

class NotFinalYet extends Error {}

/**
 * The saga's last step: complete a paid order, then record the messages that tell the customer
 * whatever the final outcome is, and hand them to the `deliver` queue (which keeps to the
 * providers' rate limit). Runs again safely: completing is a compare-and-set, messages are
 * deduplicated per order and outcome, and send jobs have the message's id. A batch completes its
 * orders and records their messages in one transaction, then adds all their send jobs at once.
 */
export function notifyProcessor(deps: WorkerDeps) {
  const batcher = notifyBatcher(deps);
  return orderStep(deps, 'notify', async (orderId) => {
    const { status, messages } = await batcher.submit(orderId);
    // An earlier step gave up and is still ending the order: retry shortly.
    if (messages === null) throw new NotFinalYet(`order is ${status}, not final yet`);
    return { status, changed: messages.length > 0 };
  });
}

/** Completes and records the outcomes of a batch in one transaction, then adds all its send jobs at once. */
export function notifyBatcher(deps: WorkerDeps) {
  return stepBatcher(
    deps,
    'notify',
    async (ids) => {
      const results = await completeAndRecordOutcomes(deps.orders, ids);
      const messages = [...results].flatMap(([orderId, r]) =>
        r.ok ? (r.value.messages ?? []).map((notificationId) => ({ notificationId, orderId })) : [],
      );
      await deps.queues.sendMany(messages);
      return results;
    },
    (id) => notifyOne(deps, id),
  );
}

/**
 * One order on its own: the path a batch falls back to. It is a batch of one, so the completion and
 * the customer's messages commit in one transaction here too: a completed order always has them.
 */
async function notifyOne(deps: WorkerDeps, orderId: string): Promise<Finished> {
  const result = (await completeAndRecordOutcomes(deps.orders, [orderId])).get(orderId);
  if (!result) throw new Error(`notify: no result for order ${orderId}`);
  if (!result.ok) throw result.error;
  const { messages } = result.value;
  if (messages) await deps.queues.sendMany(messages.map((notificationId) => ({ notificationId, orderId })));
  return result.value;
}
