import { reserveOrder } from '../domain/orders/reserve';
import type { WorkerDeps } from './deps';
import { orderStep } from './step';

/** Holds the stock, or rejects the order. A lone reserve job (pay later) tells the customer a rejection. */
export function reserveProcessor(deps: WorkerDeps) {
  return orderStep(deps, 'reserve', async (orderId, job) => {
    const outcome = await reserveOrder(deps.orders, orderId);
    if (outcome.changed && outcome.status === 'rejected' && !job.parentKey) {
      await deps.queues.notifyOutcome(orderId, outcome.status);
    }
    return outcome;
  });
}
