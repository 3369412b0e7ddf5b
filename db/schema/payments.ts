import {
  bigint,
  char,
  datetime,
  index,
  mysqlEnum,
  mysqlTable,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';

// Appended (the MySQL enum grows at its end): an authorization held, then captured or voided; refunds after the sale.
export const paymentStatuses = [
  'pending',
  'succeeded',
  'failed',
  'refunded',
  'authorized',
  'voided',
  'partially_refunded',
] as const;
export type PaymentStatus = (typeof paymentStatuses)[number];

export const payments = mysqlTable(
  'payments',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    orderId: varchar('order_id', { length: 40 }).notNull(),
    status: mysqlEnum('status', paymentStatuses).notNull(),
    amountCents: bigint('amount_cents', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    // Sent to the gateway with the charge: a retried charge reuses it and is not charged twice.
    idempotencyKey: varchar('idempotency_key', { length: 80 }).notNull(),
    gatewayRef: varchar('gateway_ref', { length: 80 }),
    failureCode: varchar('failure_code', { length: 64 }),
    refundRef: varchar('refund_ref', { length: 80 }),
    // Set in the transaction that ends the order cancelled or failed: from then on a refund is owed for
    // whatever the gateway took, and the gateway is asked again for a while (a charge may land late).
    refundDueAt: datetime('refund_due_at', { mode: 'date', fsp: 3 }),
    // 'manual' for an order held in review: the money is authorized first and captured on approval
    // (or voided); what the money owed back for such an order is depends on it.
    captureMethod: mysqlEnum('capture_method', ['automatic', 'manual']).notNull().default('automatic'),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    uniqueIndex('payments_order_uq').on(t.orderId),
    uniqueIndex('payments_idem_uq').on(t.idempotencyKey),
    index('payments_status_updated_idx').on(t.status, t.updatedAt),
    // A processor's event names the payment by its id (Stripe: the PaymentIntent).
    index('payments_gateway_ref_idx').on(t.gatewayRef),
  ],
);
