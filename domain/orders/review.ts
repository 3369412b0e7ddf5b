import { and, count, eq, lt, min } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { orders } from '../../db/schema';
import type { Actor } from '../actor';
import { conflict, notFound } from '../errors';
import { releaseStock } from '../inventory/stock';
import { recordOutcomeMessages } from '../notifications/notifications';
import type { ExpiryPass } from './compensate';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { oweRefund, refundIfCharged } from './refund';
import { rejectForFraud, type Screened } from './screen';
import { lockOrder, transition, withTransitions } from './transition';

export type ReviewDecision = 'approve' | 'reject';

/**
 * An admin's decision on an order in `review`, a compare-and-set like every step: 409 unless the
 * order is still in review (decided already, cancelled by its owner, expired). `approve` puts it back
 * to `reserved` with its risk marked approved, so the charge step captures its authorization without a
 * second screening; the caller then adds the charge → notify tail. `reject` ends it `rejected`
 * (fraud_suspected) and voids its authorization after the commit.
 */
export async function decideReview(
  ctx: OrderContext,
  orderId: string,
  decision: ReviewDecision,
  actor: Actor,
): Promise<Screened> {
  const decided = await withTransitions(
    ctx.db,
    ctx.events,
    async (log): Promise<Screened> => {
      const order = await lockOrder(log.tx, orderId);
      if (!order) throw notFound('Order');
      if (order.status !== 'review') throw conflict(`The order is ${order.status}, not in review`);
      if (decision === 'approve') {
        await transition(log, orderId, 'review', 'reserved', undefined, { riskDecision: 'approve' });
        return { status: 'reserved', changed: true, messages: [] };
      }
      return rejectForFraud(ctx, log, order, { riskDecision: 'reject' });
    },
    actor,
  );
  // Rejected: its authorization is voided after the commit (the reconciler retries if this fails).
  if (decided.status === 'rejected') await releaseAuthorization(ctx, orderId);
  return decided;
}

/** Voids what an ended review order holds; a failure leaves it owed (the reconciler settles it). */
async function releaseAuthorization(ctx: OrderContext, orderId: string): Promise<void> {
  await refundIfCharged(ctx, orderId).catch(() => 'owed');
}

/**
 * Cancels orders that waited in `review` longer than `ttlSeconds` (reason `review_expired`), their
 * stock released, their authorizations voided (nothing was captured). The time in review is read from
 * `updated_at`: nothing moves an order while it waits. Returns them with the customer's messages written
 * in each transaction, and the orders that could not be ended (each in its own transaction: the others
 * still expire).
 */
export async function expireReviews(
  ctx: OrderContext,
  ttlSeconds: number,
  now = new Date(),
  limit = 200,
): Promise<ExpiryPass> {
  const due = await ctx.db
    .select({ id: orders.id })
    .from(orders)
    .where(
      and(eq(orders.status, 'review'), lt(orders.updatedAt, new Date(now.getTime() - ttlSeconds * 1000))),
    )
    .limit(limit);
  const pass: ExpiryPass = { expired: [], failed: [] };
  for (const { id } of due) {
    // Each order on its own: one that cannot be ended is reported, the others still expire.
    const messages = await withTransitions(ctx.db, ctx.events, async (log) => {
      const order = await lockOrder(log.tx, id);
      if (order?.status !== 'review') return null;
      const lines = await orderLines(log.tx, id);
      await releaseStock(log.tx, lines);
      log.stockMoved(lines);
      await transition(log, id, 'review', 'cancelled', 'review_expired', { reservedUntil: null });
      // An order in review holds an authorization at most (never a charge): owed back, voided below.
      await oweRefund(log.tx, id);
      return recordOutcomeMessages(log.tx, ctx.piiKey, {
        ...order,
        status: 'cancelled',
        failureReason: 'review_expired',
      });
    }).catch((error: unknown) => {
      pass.failed.push({ orderId: id, error });
      return null;
    });
    if (!messages) continue;
    // Its authorization is voided after the commit (releaseAuthorization never throws: a void that
    // fails stays owed, and the reconciler settles it).
    await releaseAuthorization(ctx, id);
    pass.expired.push({ orderId: id, messages });
  }
  return pass;
}

/** How many orders wait for a decision, and since when the oldest has (for the metrics). */
export async function reviewQueue(db: Db): Promise<{ length: number; oldestSince: Date | null }> {
  const [row] = await db
    .select({ n: count(), oldest: min(orders.updatedAt) })
    .from(orders)
    .where(eq(orders.status, 'review'));
  return { length: Number(row?.n ?? 0), oldestSince: row?.oldest ?? null };
}
