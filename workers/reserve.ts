import { reserveOrder } from '../domain/orders/reserve';
import { reserveOrders } from '../domain/orders/reserve-many';
import type { WorkerDeps } from './deps';
import { stepBatcher } from './group';
import { orderStep } from './step';

/** Holds the stock, or rejects the order. A lone reserve job (pay later) tells the customer a rejection. */
export function reserveProcessor(deps: WorkerDeps) {
  const batcher = stepBatcher(
    deps,
    'reserve',
    (ids) => reserveOrders(deps.orders, ids),
    (id) => reserveOrder(deps.orders, id),
  );
  return orderStep(deps, 'reserve', async (orderId, job) => {
    const outcome = await batcher.submit(orderId);
    if (outcome.changed && outcome.status === 'rejected' && !job.parentKey) {
      await deps.queues.notifyOutcome(orderId, outcome.status);
    }
    return outcome;
  });
}
