import { chargeOrders } from '../domain/orders/charge-batch';
import { chargeOrder } from '../domain/orders/charge-one';
import type { WorkerDeps } from './deps';
import { stepBatcher } from './group-commit';
import { orderStep } from './step';

export function chargeProcessor(deps: WorkerDeps) {
  const batcher = stepBatcher(
    deps,
    'charge',
    (ids) => chargeOrders(deps.orders, ids),
    (id) => chargeOrder(deps.orders, id),
  );
  return orderStep(deps, 'charge', (orderId) => batcher.submit(orderId));
}
