import { and, eq } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { payments } from '../../db/schema';
import { newId } from '../../lib/ids';
import { releaseStock } from '../inventory/stock';
import { chargeKey } from '../payments/gateway';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { getOrderRow } from './read';
import { refundIfCharged } from './refund';
import type { StepOutcome } from './reserve-one';
import { screenBeforeCharge } from './screen';
import { lockOrder, transition, withTransitions } from './transition';

/** The payment row exists before the gateway is called, with the key the gateway call will carry. */
export async function ensurePaymentRow(db: Db, order: { id: string; totalCents: number; currency: string }) {
  const now = new Date();
  await db
    .insert(payments)
    .values({
      id: newId('pay'),
      orderId: order.id,
      status: 'pending',
      amountCents: order.totalCents,
      currency: order.currency,
      idempotencyKey: chargeKey(order.id),
      createdAt: now,
      updatedAt: now,
    })
    .onDuplicateKeyUpdate({ set: { orderId: order.id } });
}

/**
 * Charges a reserved order. Safe to run any number of times: the gateway sees one idempotency key
 * per order, so a retry after a crash between the call and the commit gets the first answer back.
 */
export async function chargeOrder(ctx: OrderContext, orderId: string): Promise<StepOutcome> {
  const order = await getOrderRow(ctx.db, orderId);
  if (order.status === 'cancelled' || order.status === 'failed') {
    // Money may have been taken by an attempt that crashed before it could record it.
    await refundIfCharged(ctx, orderId);
    return { status: order.status, changed: false };
  }
  if (order.status !== 'reserved' || !order.paymentToken) return { status: order.status, changed: false };
  const screened = await screenBeforeCharge(ctx, order);
  if (screened) return screened;
  await ensurePaymentRow(ctx.db, order);
  const result = await ctx.gateway.charge({
    idempotencyKey: chargeKey(orderId),
    token: order.paymentToken,
    amountCents: order.totalCents,
    currency: order.currency,
  });
  const outcome = await withTransitions(ctx.db, ctx.events, async (log) => {
    const current = await lockOrder(log.tx, orderId);
    if (current?.status !== 'reserved') return { status: current?.status ?? 'failed', changed: false };
    const now = new Date();
    if (result.outcome === 'succeeded') {
      await transition(log, orderId, 'reserved', 'paid');
      await log.tx
        .update(payments)
        .set({ status: 'succeeded', gatewayRef: result.ref, updatedAt: now })
        .where(and(eq(payments.orderId, orderId), eq(payments.status, 'pending')));
      return { status: 'paid' as const, changed: true };
    }
    const lines = await orderLines(log.tx, orderId);
    await releaseStock(log.tx, lines);
    log.stockMoved(lines);
    await transition(log, orderId, 'reserved', 'payment_failed', result.code);
    await log.tx
      .update(payments)
      .set({ status: 'failed', failureCode: result.code, updatedAt: now })
      .where(and(eq(payments.orderId, orderId), eq(payments.status, 'pending')));
    return { status: 'payment_failed' as const, changed: true };
  });
  // The order was cancelled (or failed) while the gateway was charging it: give the money back.
  if (
    !outcome.changed &&
    result.outcome === 'succeeded' &&
    outcome.status !== 'paid' &&
    outcome.status !== 'completed'
  ) {
    await refundIfCharged(ctx, orderId);
  }
  return outcome;
}
