import { and, eq, inArray, isNotNull, lt, ne, or } from 'drizzle-orm';
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
    .select({ id: notifications.id, orderId: notifications.orderId })
    .from(notifications)
    .where(and(eq(notifications.status, 'queued'), lt(notifications.updatedAt, olderThan)))
    .limit(limit);
}

/**
 * Payments of orders that ended cancelled or failed but were never settled: a refund that could not
 * reach the gateway when the order ended (its circuit was open, say). The reconciler settles them.
 */
export async function findUnsettledPayments(db: Db, olderThan: Date, limit = 200) {
  return db
    .select({ orderId: payments.orderId })
    .from(payments)
    .innerJoin(orders, eq(orders.id, payments.orderId))
    .where(
      and(
        inArray(payments.status, ['pending', 'succeeded']),
        inArray(orders.status, ['cancelled', 'failed']),
        lt(payments.updatedAt, olderThan),
      ),
    )
    .limit(limit);
}
