import { and, eq, inArray, lt } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { notifications, orders } from '../../db/schema';

/** Orders that are not final and have not moved for a while: candidates for having their flow re-added. */
export async function findStuckOrders(db: Db, olderThan: Date, limit = 200) {
  return db
    .select({ id: orders.id, status: orders.status, paymentToken: orders.paymentToken })
    .from(orders)
    .where(and(inArray(orders.status, ['pending', 'reserved', 'paid']), lt(orders.updatedAt, olderThan)))
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
