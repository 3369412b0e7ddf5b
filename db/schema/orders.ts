import {
  bigint,
  boolean,
  char,
  datetime,
  double,
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
  // Held for a human: fraud screening asked for an admin's decision (appended: the MySQL enum grows at its end).
  'review',
] as const;
export type OrderStatus = (typeof orderStatuses)[number];

export const riskDecisions = ['approve', 'review', 'reject'] as const;
export type RiskDecision = (typeof riskDecisions)[number];

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
    // The customer disputed the payment with their bank (Stripe's `charge.dispute.created`).
    disputed: boolean('disputed').notNull().default(false),
    reservedUntil: datetime('reserved_until', { mode: 'date', fsp: 3 }),
    // Fraud screening's verdict, taken once before the first charge (null until then).
    riskScore: double('risk_score'),
    riskDecision: mysqlEnum('risk_decision', riskDecisions),
    riskReasons: varchar('risk_reasons', { length: 255 }),
    riskModel: varchar('risk_model', { length: 40 }),
    // What went back to the customer after the sale (refunds, or the full refund of a cancel).
    refundedCents: bigint('refunded_cents', { mode: 'number', unsigned: true }).notNull().default(0),
    // Bumped by every transition: a compare-and-set can use it, and the reconciler sees movement.
    version: int('version', { unsigned: true }).notNull().default(0),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    uniqueIndex('orders_user_idem_uq').on(t.userId, t.idempotencyKey),
    index('orders_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('orders_status_updated_idx').on(t.status, t.updatedAt),
    // GET /orders?status=…: one status, newest first.
    index('orders_status_created_idx').on(t.status, t.createdAt, t.id),
  ],
);
