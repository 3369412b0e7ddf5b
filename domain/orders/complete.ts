import { notFound } from '../errors';
import { consumeStock } from '../inventory/stock';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import type { StepOutcome } from './reserve';
import { lockOrder, transition, withTransitions } from './transition';

/** Paid → completed: the held units leave the books for good. */
export async function completeOrder(ctx: OrderContext, orderId: string): Promise<StepOutcome> {
  return withTransitions(ctx.db, ctx.events, async (log) => {
    const order = await lockOrder(log.tx, orderId);
    if (!order) throw notFound('Order');
    if (order.status !== 'paid') return { status: order.status, changed: false };
    const lines = await orderLines(log.tx, orderId);
    await consumeStock(log.tx, lines);
    log.stockMoved(lines);
    await transition(log, orderId, 'paid', 'completed');
    return { status: 'completed', changed: true };
  });
}
