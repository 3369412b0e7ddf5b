import { and, eq, isNull, lt } from 'drizzle-orm';
import { orders } from '../../db/schema';
import { conflict, notFound } from '../errors';
import { releaseStock } from '../inventory/stock';
import { refundIfCharged } from './charge';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import type { StepOutcome } from './reserve';
import { isFinal, type OrderStatus } from './status';
import { lockOrder, transition, withTransitions } from './transition';

/**
 * Ends a non-final order as `cancelled` or `failed`, undoing what it holds: a paid order is
 * refunded, then its stock released; a reserved one has its stock released.
 */
async function unwind(
  ctx: OrderContext,
  orderId: string,
  to: 'cancelled' | 'failed',
  reason: string,
  guard: (order: { status: OrderStatus; paymentToken: string | null }) => boolean = () => true,
): Promise<StepOutcome> {
  const outcome = await withTransitions(ctx.db, ctx.events, async (log) => {
    const order = await lockOrder(log.tx, orderId);
    if (!order) throw notFound('Order');
    if (isFinal(order.status) || !guard(order)) return { status: order.status, changed: false };
    if (order.status === 'paid') {
      // Refund first: a cancelled order never keeps the money. The gateway key makes a retry safe.
      await refundIfCharged(ctx, orderId);
    }
    if (order.status === 'reserved' || order.status === 'review' || order.status === 'paid') {
      const lines = await orderLines(log.tx, orderId);
      await releaseStock(log.tx, lines);
      log.stockMoved(lines);
    }
    await transition(log, orderId, order.status, to, reason, { reservedUntil: null });
    return { status: to, changed: true };
  });
  // A charge may have reached the gateway while the order was still `reserved` (a crash before it
  // was recorded, or a call in flight): look, and refund if so.
  if (outcome.changed) await refundIfCharged(ctx, orderId);
  return outcome;
}

/** The customer's (or an admin's) cancel: 409 once the order is final. */
export async function cancelOrder(ctx: OrderContext, orderId: string): Promise<StepOutcome> {
  const outcome = await unwind(ctx, orderId, 'cancelled', 'cancelled_by_user');
  if (!outcome.changed) throw conflict(`The order is ${outcome.status} and can no longer be cancelled`);
  return outcome;
}

/** A step ran out of attempts: the order ends `failed`, with nothing held and nothing charged. */
export async function failOrder(ctx: OrderContext, orderId: string, reason: string): Promise<StepOutcome> {
  return unwind(ctx, orderId, 'failed', reason.slice(0, 255));
}

/** Cancels unpaid orders whose hold ran out; returns their ids. */
export async function expireHolds(ctx: OrderContext, now = new Date(), limit = 500): Promise<string[]> {
  const due = await ctx.db
    .select({ id: orders.id })
    .from(orders)
    .where(and(eq(orders.status, 'reserved'), isNull(orders.paymentToken), lt(orders.reservedUntil, now)))
    .limit(limit);
  const expired: string[] = [];
  for (const { id } of due) {
    const outcome = await unwind(
      ctx,
      id,
      'cancelled',
      'reservation_expired',
      (o) => o.status === 'reserved' && o.paymentToken === null,
    );
    if (outcome.changed) expired.push(id);
  }
  return expired;
}
