import { reserveOrders } from '../domain/orders/reserve-batch';
import { reserveOrder } from '../domain/orders/reserve-one';
import type { WorkerDeps } from './deps';
import { stepBatcher } from './group-commit';
import { orderStep } from './step';

/**
 * Holds the stock, or rejects the order. A rejection's messages are written with it (the outbox);
 * a lone reserve job (pay later) has no notify step after it, so it hands them to the deliver queue
 * itself. Should that fail (Redis away), the rows are still there and the reconciler re-sends them.
 */
export function reserveProcessor(deps: WorkerDeps) {
  const batcher = stepBatcher(
    deps,
    'reserve',
    (ids) => reserveOrders(deps.orders, ids),
    (id) => reserveOrder(deps.orders, id),
  );
  return orderStep(deps, 'reserve', async (orderId, job) => {
    const { status, changed, messages } = await batcher.submit(orderId);
    if (changed && status === 'rejected' && !job.parentKey) {
      await deps.queues.sendMany(messages.map((notificationId) => ({ notificationId, orderId })));
    }
    return { status, changed };
  });
}
