import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../../db/client';
import { notifications, orders, payments, products, refundItems, refunds, users } from '../../../db/schema';
import { newId } from '../../../lib/ids';
import { itemTraceParent } from '../../../lib/tracing';
import { money } from '../../notifications/notifications';
import { recordEvents } from '../../outbox/write';
import { chargeKey, refundIdKey } from '../../payments/gateway';
import type { OrderContext } from '../context';
import { lockOrder, type TransitionLog, withTransitions } from '../transition';
import { getRefundView, type RefundView } from './view';

/** A refund once the gateway was asked, with the customer's message to hand to the `deliver` queue. */
export interface SettledRefund {
  refund: RefundView;
  /** The message written with a succeeded refund (the outbox): the caller queues it for delivery. */
  messages: string[];
}

/**
 * Asks the gateway for a pending refund's money and records the answer. Never inside a transaction:
 * the call is a network call. Safe to run any number of times (the route right after the intent, the
 * reconciler for one left pending): the gateway sees the refund's own idempotency key, so a second
 * call gets the first answer back, and the outcome is recorded only while the refund is `pending`.
 * The gateway being down leaves it `pending` (its error is thrown; the reconciler asks again).
 */
export async function settleRefund(ctx: OrderContext, refundId: string): Promise<SettledRefund> {
  const [refund] = await ctx.db.select().from(refunds).where(eq(refunds.id, refundId)).limit(1);
  if (!refund) throw new Error(`no refund ${refundId}`);
  if (refund.status !== 'pending') return { refund: await viewOf(ctx.db, refundId), messages: [] };
  const [payment] = await ctx.db
    .select({ gatewayRef: payments.gatewayRef })
    .from(payments)
    .where(eq(payments.orderId, refund.orderId))
    .limit(1);
  const answer = await ctx.gateway.refund({
    idempotencyKey: refundIdKey(refundId),
    chargeIdempotencyKey: chargeKey(refund.orderId),
    ...(payment?.gatewayRef ? { paymentRef: payment.gatewayRef } : {}),
    amountCents: refund.amountCents,
  });
  const messages = await withTransitions(ctx.db, ctx.events, (log) =>
    recordRefundOutcome(
      log,
      refundId,
      answer ? { status: 'succeeded', ref: answer.ref } : { status: 'failed', code: 'refused' },
    ),
  );
  return { refund: await viewOf(ctx.db, refundId), messages };
}

async function viewOf(db: Db, refundId: string): Promise<RefundView> {
  const view = await getRefundView(db, refundId);
  if (!view) throw new Error(`no refund ${refundId}`);
  return view;
}

export type RefundOutcome = { status: 'succeeded'; ref: string } | { status: 'failed'; code: string };

/**
 * The one place a refund leaves `pending` (outbox events `refund.succeeded`/`refund.failed` belong
 * here). Locks the order, then the payment and the refund (the intent's lock order), and records the
 * outcome only if the refund is still pending: a second answer (a retry, the reconciler) changes
 * nothing. Succeeded: the lines asked for go back to `available`, the order's `refundedCents` and the
 * payment's status say what went back, and the customer's email is written (the outbox). Failed: the
 * money is untouched and nothing was restocked. Returns the ids of the messages to deliver.
 */
export async function recordRefundOutcome(
  log: TransitionLog,
  refundId: string,
  outcome: RefundOutcome,
): Promise<string[]> {
  const tx = log.tx;
  const [head] = await tx
    .select({ orderId: refunds.orderId })
    .from(refunds)
    .where(eq(refunds.id, refundId))
    .limit(1);
  if (!head) return [];
  const order = await lockOrder(tx, head.orderId);
  if (!order) return [];
  const [payment] = await tx
    .select()
    .from(payments)
    .where(eq(payments.orderId, order.id))
    .for('update')
    .limit(1);
  const [refund] = await tx.select().from(refunds).where(eq(refunds.id, refundId)).for('update').limit(1);
  if (refund?.status !== 'pending') return [];
  const now = new Date();
  if (outcome.status === 'failed') {
    await tx
      .update(refunds)
      .set({ status: 'failed', failureCode: outcome.code, updatedAt: now })
      .where(eq(refunds.id, refundId));
    await recordEvents(tx, [
      { type: 'refund.failed', orderId: order.id, refundId, at: now, traceParent: itemTraceParent(order.id) },
    ]);
    return [];
  }
  await tx
    .update(refunds)
    .set({ status: 'succeeded', gatewayRef: outcome.ref, updatedAt: now })
    .where(eq(refunds.id, refundId));
  await recordEvents(tx, [
    {
      type: 'refund.succeeded',
      orderId: order.id,
      refundId,
      at: now,
      traceParent: itemTraceParent(order.id),
    },
  ]);
  if (refund.restock) await restock(log, refundId, now);
  const refundedCents = Math.min(order.totalCents, order.refundedCents + refund.amountCents);
  await tx.update(orders).set({ refundedCents }).where(eq(orders.id, order.id));
  // A payment the cancel refunded in full stays `refunded`.
  if (payment && (payment.status === 'succeeded' || payment.status === 'partially_refunded')) {
    await tx
      .update(payments)
      .set({
        status: refundedCents >= payment.amountCents ? 'refunded' : 'partially_refunded',
        updatedAt: now,
      })
      .where(eq(payments.orderId, order.id));
  }
  return recordRefundMessage(tx, order, refund);
}

/** The refund's lines back to `available` (products locked in id order, after the order). */
async function restock(log: TransitionLog, refundId: string, now: Date): Promise<void> {
  const lines = await log.tx
    .select({ productId: refundItems.productId, quantity: refundItems.quantity })
    .from(refundItems)
    .where(eq(refundItems.refundId, refundId))
    .orderBy(refundItems.productId);
  for (const line of lines) {
    await log.tx
      .update(products)
      .set({ available: sql`${products.available} + ${line.quantity}`, updatedAt: now })
      .where(eq(products.id, line.productId));
  }
  log.stockMoved(lines);
}

/** The customer's email for a succeeded refund, one per refund however often it is recorded. */
export async function recordRefundMessage(
  tx: Tx,
  order: { id: string; userId: string; currency: string },
  refund: { id: string; amountCents: number },
): Promise<string[]> {
  const [user] = await tx.select({ email: users.email }).from(users).where(eq(users.id, order.userId));
  if (!user) return [];
  const id = newId('ntf');
  const now = new Date();
  await tx
    .insert(notifications)
    .values({
      id,
      orderId: order.id,
      channel: 'email',
      recipient: user.email,
      subject: `Refund for order ${order.id}`,
      body: `We have refunded ${money(refund.amountCents, order.currency)} of order ${order.id} to your card. It may take a few days to show.`,
      status: 'queued',
      dedupeKey: `${refund.id}:refund:email`,
      createdAt: now,
      updatedAt: now,
    })
    .onDuplicateKeyUpdate({ set: { dedupeKey: sql`dedupe_key` } });
  return [id];
}

/** Refunds left `pending` for a while (the gateway was down, the process died after the intent). */
export async function findStaleRefunds(db: Db, olderThan: Date, limit = 200) {
  return db
    .select({ id: refunds.id, orderId: refunds.orderId })
    .from(refunds)
    .where(and(inArray(refunds.status, ['pending']), lt(refunds.updatedAt, olderThan)))
    .orderBy(refunds.updatedAt)
    .limit(limit);
}
