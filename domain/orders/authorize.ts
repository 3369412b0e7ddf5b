import { and, eq } from 'drizzle-orm';
import { payments } from '../../db/schema';
import { releaseStock } from '../inventory/stock';
import { recordOutcomeMessages } from '../notifications/notifications';
import { type ChargeResult, chargeKey } from '../payments/gateway';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { getOrderRow } from './read';
import { refundIfCharged } from './refund';
import type { StepOutcome } from './reserve-one';
import { isFinal } from './status';
import { gatewayTraced } from './traced-charge';
import { lockOrder, transition, withTransitions } from './transition';

/** An authorization's outcome, with the customer's messages a decline wrote (the outbox). */
export interface Authorized extends StepOutcome {
  messages: string[];
}

/**
 * Sets the money of an order held in `review` aside on the card (an authorization, captured if an
 * admin approves, voided otherwise). Its intent was committed with the move to `review` (a `manual`
 * payment row, `pending`); this call is made after that commit, outside any transaction, and its
 * answer recorded in a transaction of its own. Safe to run again (the charge step's retry, the
 * reconciler): the gateway sees the payment's one idempotency key, and a payment no longer `pending`
 * is left alone.
 */
export async function authorizeHeld(ctx: OrderContext, orderId: string): Promise<Authorized> {
  const order = await getOrderRow(ctx.db, orderId);
  const [payment] = await ctx.db.select().from(payments).where(eq(payments.orderId, orderId)).limit(1);
  const unchanged = { status: order.status, changed: false, messages: [] };
  // Approved meanwhile: the charge step authorizes (the same key) and captures; ended: nothing to set aside.
  if (order.status !== 'review' || !order.paymentToken) return unchanged;
  if (payment?.captureMethod !== 'manual' || payment.status !== 'pending') return unchanged;
  const request = {
    idempotencyKey: chargeKey(orderId),
    token: order.paymentToken,
    amountCents: order.totalCents,
    currency: order.currency,
  };
  const result = await gatewayTraced('authorize', order, () => ctx.gateway.authorize(request));
  return recordAuthorization(ctx, orderId, result);
}

async function recordAuthorization(
  ctx: OrderContext,
  orderId: string,
  result: ChargeResult,
): Promise<Authorized> {
  const outcome = await withTransitions(ctx.db, ctx.events, async (log) => {
    const order = await lockOrder(log.tx, orderId);
    if (!order) return { status: 'failed' as const, changed: false, messages: [] };
    const now = new Date();
    const pendingPayment = and(eq(payments.orderId, orderId), eq(payments.status, 'pending'));
    if (result.outcome === 'succeeded') {
      await log.tx
        .update(payments)
        .set({ status: 'authorized', gatewayRef: result.ref, updatedAt: now })
        .where(pendingPayment);
      return { status: order.status, changed: false, messages: [] };
    }
    await log.tx
      .update(payments)
      .set({ status: 'failed', failureCode: result.code, updatedAt: now })
      .where(pendingPayment);
    if (order.status !== 'review') return { status: order.status, changed: false, messages: [] };
    const lines = await orderLines(log.tx, orderId);
    await releaseStock(log.tx, lines);
    log.stockMoved(lines);
    await transition(log, orderId, 'review', 'payment_failed', result.code, { reservedUntil: null });
    const messages = await recordOutcomeMessages(log.tx, ctx.piiKey, {
      ...order,
      status: 'payment_failed',
      failureReason: result.code,
    });
    return { status: 'payment_failed' as const, changed: true, messages };
  });
  // The order ended (cancelled, rejected, expired) while its authorization was on the way: release it.
  if (result.outcome === 'succeeded' && isFinal(outcome.status) && outcome.status !== 'completed')
    await refundIfCharged(ctx, orderId);
  return outcome;
}
