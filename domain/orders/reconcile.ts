import { and, eq, gt, inArray, isNotNull, lt, ne, or } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { notifications, orders, payments } from '../../db/schema';

/** Orders that are not final and have not moved for a while: candidates for having their flow re-added. */
export async function findStuckOrders(db: Db, olderThan: Date, limit = 200) {
  return db
    .select({ id: orders.id, status: orders.status, paymentToken: orders.paymentToken })
    .from(orders)
    .where(
      and(
        inArray(orders.status, ['pending', 'reserved', 'paid']),
        lt(orders.updatedAt, olderThan),
        // Reserved without payment is waiting for its customer, not stuck (its hold expires on its own);
        // left in, a crowd of them would fill every batch and starve the orders that are stuck.
        or(ne(orders.status, 'reserved'), isNotNull(orders.paymentToken)),
      ),
    )
    .orderBy(orders.updatedAt)
    .limit(limit);
}

export async function findStaleNotifications(db: Db, olderThan: Date, limit = 200) {
  return db
    .select({ id: notifications.id, orderId: notifications.orderId, sendJob: notifications.sendJob })
    .from(notifications)
    .where(and(eq(notifications.status, 'queued'), lt(notifications.updatedAt, olderThan)))
    .limit(limit);
}

/**
 * Payments of orders that ended cancelled, failed or rejected with money still owed back (an
 * authorization to void, or a charge to refund): the refund could not
 * reach the gateway when the order ended (its circuit was open, the process died after the commit), or
 * the gateway said "not charged" while a charge that timed out on our side could still land there.
 * The latter are asked again until `lateChargeSince` (the end of the window after the order ended).
 */
export async function findUnsettledPayments(db: Db, olderThan: Date, lateChargeSince: Date, limit = 200) {
  return db
    .select({ orderId: payments.orderId })
    .from(payments)
    .innerJoin(orders, eq(orders.id, payments.orderId))
    .where(
      and(
        or(
          inArray(payments.status, ['pending', 'succeeded', 'authorized', 'partially_refunded']),
          and(
            eq(payments.status, 'failed'),
            eq(payments.failureCode, 'not_charged'),
            gt(payments.refundDueAt, lateChargeSince),
          ),
        ),
        // Rejected in review: its authorization is owed back (a rejection before review sets its
        // payment failed in the same transaction, and a too_many_holds one never authorized).
        inArray(orders.status, ['cancelled', 'failed', 'rejected']),
        lt(payments.updatedAt, olderThan),
      ),
    )
    .orderBy(payments.updatedAt)
    .limit(limit);
}

/**
 * Orders held in review whose authorization was never asked for (the step that moved them there died
 * before its call, or the gateway was down and its job ran out): the reconciler authorizes them.
 */
export async function findUnauthorizedReviews(db: Db, olderThan: Date, limit = 200) {
  return db
    .select({ orderId: payments.orderId })
    .from(payments)
    .innerJoin(orders, eq(orders.id, payments.orderId))
    .where(
      and(
        eq(payments.status, 'pending'),
        eq(payments.captureMethod, 'manual'),
        eq(orders.status, 'review'),
        lt(payments.updatedAt, olderThan),
      ),
    )
    .orderBy(payments.updatedAt)
    .limit(limit);
}
