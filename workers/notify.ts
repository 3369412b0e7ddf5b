import { completeAndRecordOutcomes, type Finished } from '../domain/orders/complete';
import { itemMetadata } from '../lib/tracing';
import { jobIds } from '../queues/contract';
import type { WorkerDeps } from './deps';
import { stepBatcher } from './group-commit';
import { orderStep } from './step';

class NotFinalYet extends Error {}

/**
 * The saga's last step: complete a paid order, then record the messages that tell the customer
 * whatever the final outcome is, and hand them to the `deliver` queue (which keeps to the
 * providers' rate limit). A batch completes its orders and records their messages in one
 * transaction, under one send batch, then adds the one `deliver` job that sends them all.
 *
 * Runs again safely: completing is a compare-and-set, messages are deduplicated per order and
 * outcome and keep the send batch they were first recorded under, and that batch's job id is the
 * batch's: a retry after a crash between the commit and the add re-adds the same job (a no-op while
 * it exists). Should the add fail (Redis away), the rows are there: the reconciler re-adds the job.
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

/** Completes and records the outcomes of a batch in one transaction, then adds its one send job. */
export function notifyBatcher(deps: WorkerDeps) {
  return stepBatcher(
    deps,
    'notify',
    async (ids) => {
      // Chosen before the transaction, so that the rows name the job that the add after it creates.
      const results = await completeAndRecordOutcomes(deps.orders, ids, jobIds.sendBatch());
      const messages = [...results].flatMap(([orderId, r]) =>
        r.ok
          ? (r.value.messages ?? []).map(({ id, sendJob }) => ({
              notificationId: id,
              orderId,
              sendJob,
              trace: itemMetadata(orderId),
            }))
          : [],
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
  const result = (await completeAndRecordOutcomes(deps.orders, [orderId], jobIds.sendBatch())).get(orderId);
  if (!result) throw new Error(`notify: no result for order ${orderId}`);
  if (!result.ok) throw result.error;
  const { messages } = result.value;
  if (messages) {
    await deps.queues.sendMany(
      messages.map(({ id, sendJob }) => ({
        notificationId: id,
        orderId,
        sendJob,
        trace: itemMetadata(orderId),
      })),
    );
  }
  return result.value;
}
