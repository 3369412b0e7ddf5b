import { chargeOrder } from '../domain/orders/charge';
import type { WorkerDeps } from './deps';
import { orderStep } from './step';

export function chargeProcessor(deps: WorkerDeps) {
  return orderStep(deps, 'charge', (orderId) => chargeOrder(deps.orders, orderId));
}
