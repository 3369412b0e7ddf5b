import { datetime, mysqlTable, varchar } from 'drizzle-orm/mysql-core';

/**
 * Stripe's webhook events already applied, by their id: inserted in the transaction of the event's
 * effect, so an event Stripe sends again (it retries until it hears 2xx) changes nothing twice.
 */
export const stripeEvents = mysqlTable('stripe_events', {
  id: varchar('id', { length: 255 }).primaryKey(),
  type: varchar('type', { length: 100 }).notNull(),
  orderId: varchar('order_id', { length: 40 }),
  receivedAt: datetime('received_at', { mode: 'date', fsp: 3 }).notNull(),
});
