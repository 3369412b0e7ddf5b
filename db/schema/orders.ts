import {
  bigint,
  char,
  datetime,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';

export const orderStatuses = [
  'pending',
  'reserved',
  'paid',
  'completed',
  'rejected',
  'payment_failed',
  'cancelled',
  'failed',
] as const;
export type OrderStatus = (typeof orderStatuses)[number];

export const orders = mysqlTable(
  'orders',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    userId: varchar('user_id', { length: 40 }).notNull(),
    status: mysqlEnum('status', orderStatuses).notNull(),
    totalCents: bigint('total_cents', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    // A card token from the client (never a card number); null until the order is paid for.
    paymentToken: varchar('payment_token', { length: 64 }),
    idempotencyKey: varchar('idempotency_key', { length: 255 }),
    requestHash: char('request_hash', { length: 64 }),
    failureReason: varchar('failure_reason', { length: 255 }),
    reservedUntil: datetime('reserved_until', { mode: 'date', fsp: 3 }),
    // Bumped by every transition: a compare-and-set can use it, and the reconciler sees movement.
    version: int('version', { unsigned: true }).notNull().default(0),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    uniqueIndex('orders_user_idem_uq').on(t.userId, t.idempotencyKey),
    index('orders_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('orders_status_updated_idx').on(t.status, t.updatedAt),
  ],
);
