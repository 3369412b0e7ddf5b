import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { payments } from '../../db/schema';
import { newId } from '../../lib/ids';
import { releaseStock } from '../inventory/stock';
import { type ChargeRequest, type ChargeResult, captureKey, chargeKey } from '../payments/gateway';
import { authorizeHeld } from './authorize';
import { claimPayments } from './claim';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { getOrderRow } from './read';
import { refundIfCharged } from './refund';
import type { StepOutcome } from './reserve-one';
import { screenBeforeCharge } from './screen';
import { chargeTraced, gatewayTraced } from './traced-charge';
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
 * The money moves only for an order that was still `reserved` when its payment was claimed (the same
 * locking claim as the batch path's): a cancel that committed first is never charged, and one that
 * comes later finds the payment and gives the money back. An order approved after review had its
 * money authorized: it is captured, not charged.
 */
export async function chargeOrder(ctx: OrderContext, orderId: string): Promise<StepOutcome> {
  const order = await getOrderRow(ctx.db, orderId);
  if (order.status === 'cancelled' || order.status === 'failed') {
    // Money may have been taken by an attempt that crashed before it could record it.
    await refundIfCharged(ctx, orderId);
    return { status: order.status, changed: false };
  }
  // Held for review: its authorization is still owed if the step that moved it there did not get to it.
  if (order.status === 'review') {
    const { status, changed } = await authorizeHeld(ctx, orderId);
    return { status, changed };
  }
  if (order.status !== 'reserved' || !order.paymentToken) return { status: order.status, changed: false };
  const screened = await screenBeforeCharge(ctx, order);
  if (screened) return screened;
  if (!(await claimPayments(ctx.db, [order]))) {
    const now = await getOrderRow(ctx.db, orderId);
    return { status: now.status, changed: false };
  }
  const [payment] = await ctx.db.select().from(payments).where(eq(payments.orderId, orderId)).limit(1);
  const request = {
    idempotencyKey: chargeKey(orderId),
    token: order.paymentToken,
    amountCents: order.totalCents,
    currency: order.currency,
  };
  const result =
    payment?.captureMethod === 'manual'
      ? await captureHeld(ctx, request, order, payment.status === 'authorized' ? payment.gatewayRef : null)
      : await chargeTraced(ctx.gateway, { id: orderId, userId: order.userId }, request);
  const outcome = await withTransitions(ctx.db, ctx.events, async (log) => {
    const current = await lockOrder(log.tx, orderId);
    if (current?.status !== 'reserved') return { status: current?.status ?? 'failed', changed: false };
    const now = new Date();
    const awaiting = and(eq(payments.orderId, orderId), inArray(payments.status, ['pending', 'authorized']));
    if (result.outcome === 'succeeded') {
      await transition(log, orderId, 'reserved', 'paid');
      await log.tx
        .update(payments)
        .set({ status: 'succeeded', gatewayRef: result.ref, updatedAt: now })
        .where(awaiting);
      return { status: 'paid' as const, changed: true };
    }
    const lines = await orderLines(log.tx, orderId);
    await releaseStock(log.tx, lines);
    log.stockMoved(lines);
    await transition(log, orderId, 'reserved', 'payment_failed', result.code);
    await log.tx
      .update(payments)
      .set({ status: 'failed', failureCode: result.code, updatedAt: now })
      .where(awaiting);
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

/**
 * Takes the money of an order approved after review: its authorization (made again with the same key
 * if its answer was never recorded: the gateway answers with the first one), then the capture.
 */
async function captureHeld(
  ctx: OrderContext,
  request: ChargeRequest,
  order: { id: string; userId: string },
  authorizedRef: string | null,
): Promise<ChargeResult> {
  let ref = authorizedRef;
  if (ref === null) {
    const authorized = await gatewayTraced('authorize', order, () => ctx.gateway.authorize(request));
    if (authorized.outcome === 'declined') return authorized;
    ref = authorized.ref;
  }
  const paymentRef = ref;
  const captured = await gatewayTraced('capture', order, () =>
    ctx.gateway.capture({
      idempotencyKey: captureKey(order.id),
      chargeIdempotencyKey: chargeKey(order.id),
      paymentRef,
    }),
  );
  // No authorization left to capture (voided): the order cannot be paid with it.
  return captured ? { outcome: 'succeeded', ref } : { outcome: 'declined', code: 'authorization_voided' };
}
