import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { payments } from '../../db/schema';
import { chargeKey, refundKey } from '../payments/gateway';
import type { OrderContext } from './context';

/** What the gateway said when asked for a refund: `none` when there is no payment to ask about. */
export type RefundAnswer = 'refunded' | 'not_charged' | 'none';

/**
 * The intent, written in the transaction that ends the order `cancelled` or `failed`: a refund is
 * owed for whatever the gateway took. The gateway is called only after that transaction commits
 * (`refundIfCharged`); the reconciler settles what is still owed. Returns true when the order has a
 * payment that may hold money (a refund call is then worth making).
 */
export async function oweRefund(tx: Tx, orderId: string, at = new Date()): Promise<boolean> {
  await tx
    .update(payments)
    .set({ refundDueAt: at, updatedAt: at })
    .where(and(eq(payments.orderId, orderId), isNull(payments.refundDueAt), ne(payments.status, 'refunded')));
  const [row] = await tx
    .select({ status: payments.status })
    .from(payments)
    .where(eq(payments.orderId, orderId))
    .limit(1);
  return row !== undefined && row.status !== 'refunded';
}

/**
 * Refunds the order's charge if the gateway took one, and records the answer in its own write.
 * Never call it inside a transaction: it is a network call. Every write is a compare-and-set on the
 * payment's status: a "not charged" answer that arrives late never overwrites `refunded`.
 */
export async function refundIfCharged(ctx: OrderContext, orderId: string): Promise<RefundAnswer> {
  const [payment] = await ctx.db.select().from(payments).where(eq(payments.orderId, orderId)).limit(1);
  // A 'failed' row is asked again: "not charged" may have been recorded while a charge was still in flight.
  if (!payment || payment.status === 'refunded') return 'none';
  const refund = await ctx.gateway.refund({
    idempotencyKey: refundKey(orderId),
    chargeIdempotencyKey: chargeKey(orderId),
  });
  const now = new Date();
  if (refund) {
    // The gateway's word is the truth about money: whatever we had recorded, it is refunded now.
    await ctx.db
      .update(payments)
      .set({
        status: 'refunded',
        refundRef: refund.ref,
        refundDueAt: sql`COALESCE(${payments.refundDueAt}, ${now})`,
        updatedAt: now,
      })
      .where(and(eq(payments.orderId, orderId), ne(payments.status, 'refunded')));
    return 'refunded';
  }
  // Only if nothing moved since we read it. The due time starts the window in which the reconciler
  // asks again (a charge that timed out on our side may still land at the gateway).
  await ctx.db
    .update(payments)
    .set({
      status: 'failed',
      failureCode: 'not_charged',
      refundDueAt: sql`COALESCE(${payments.refundDueAt}, ${now})`,
      updatedAt: now,
    })
    .where(and(eq(payments.orderId, orderId), eq(payments.status, payment.status)));
  return 'not_charged';
}
