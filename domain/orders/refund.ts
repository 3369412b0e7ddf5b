import { and, eq, isNull, notInArray, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { orders, payments } from '../../db/schema';
import { chargeKey, refundKey, voidKey } from '../payments/gateway';
import type { OrderContext } from './context';

/**
 * What the gateway said when asked to give an ended order's money back: `voided` (an authorization
 * released), `refunded`, `not_charged`, or `none` when there is no payment to ask about.
 */
export type RefundAnswer = 'refunded' | 'voided' | 'not_charged' | 'none';

/** Payments with nothing more to give back. */
const settled = ['refunded', 'voided'] as const;

/**
 * The intent, written in the transaction that ends the order (`cancelled`, `failed`, or `rejected`
 * after an authorization): whatever the gateway took or set aside is owed back. The gateway is called
 * only after that transaction commits (`refundIfCharged`); the reconciler settles what is still owed.
 * Returns true when the order has a payment that may hold money (a call is then worth making).
 */
export async function oweRefund(tx: Tx, orderId: string, at = new Date()): Promise<boolean> {
  await tx
    .update(payments)
    .set({ refundDueAt: at, updatedAt: at })
    .where(
      and(
        eq(payments.orderId, orderId),
        isNull(payments.refundDueAt),
        notInArray(payments.status, [...settled]),
      ),
    );
  const [row] = await tx
    .select({ status: payments.status })
    .from(payments)
    .where(eq(payments.orderId, orderId))
    .limit(1);
  return row !== undefined && !(settled as readonly string[]).includes(row.status);
}

/**
 * Gives back whatever the gateway holds for an ended order, and records the answer in its own write:
 * an authorization (an order held in review) is voided; money that was captured (or an authorization
 * captured meanwhile: the void then finds nothing) is refunded, all that is left of it. Never call it
 * inside a transaction: these are network calls. Every write is a compare-and-set on the payment's
 * status: a "not charged" answer that arrives late never overwrites `refunded` or `voided`.
 */
export async function refundIfCharged(ctx: OrderContext, orderId: string): Promise<RefundAnswer> {
  const [payment] = await ctx.db.select().from(payments).where(eq(payments.orderId, orderId)).limit(1);
  // A 'failed' row is asked again: "not charged" may have been recorded while a charge was still in flight.
  if (!payment || (settled as readonly string[]).includes(payment.status)) return 'none';
  const op = {
    chargeIdempotencyKey: chargeKey(orderId),
    ...(payment.gatewayRef ? { paymentRef: payment.gatewayRef } : {}),
  };
  const now = new Date();
  const owedSince = sql`COALESCE(${payments.refundDueAt}, ${now})`;
  if (payment.captureMethod === 'manual') {
    const voided = await ctx.gateway.void({ ...op, idempotencyKey: voidKey(orderId) });
    if (voided) {
      await ctx.db
        .update(payments)
        .set({ status: 'voided', refundRef: voided.ref, refundDueAt: owedSince, updatedAt: now })
        .where(and(eq(payments.orderId, orderId), notInArray(payments.status, [...settled])));
      return 'voided';
    }
  }
  const refund = await ctx.gateway.refund({ ...op, idempotencyKey: refundKey(orderId) });
  if (refund) {
    // The gateway's word is the truth about money: whatever we had recorded, it is refunded now, all of it.
    await ctx.db.transaction(async (tx) => {
      await tx
        .update(payments)
        .set({ status: 'refunded', refundRef: refund.ref, refundDueAt: owedSince, updatedAt: now })
        .where(and(eq(payments.orderId, orderId), notInArray(payments.status, [...settled])));
      await tx
        .update(orders)
        .set({ refundedCents: sql`${orders.totalCents}` })
        .where(eq(orders.id, orderId));
    });
    return 'refunded';
  }
  // Only if nothing moved since we read it. The due time starts the window in which the reconciler
  // asks again (a charge or an authorization that timed out on our side may still land at the gateway).
  await ctx.db
    .update(payments)
    .set({ status: 'failed', failureCode: 'not_charged', refundDueAt: owedSince, updatedAt: now })
    .where(and(eq(payments.orderId, orderId), eq(payments.status, payment.status)));
  return 'not_charged';
}
