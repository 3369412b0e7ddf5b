import {
  bigint,
  boolean,
  char,
  datetime,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  primaryKey,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';
import { actorTypes } from './order-events';

export const refundStatuses = ['pending', 'succeeded', 'failed'] as const;
export type RefundStatus = (typeof refundStatuses)[number];

/** Money given back after the sale: a row (the intent) before the gateway is asked. */
export const refunds = mysqlTable(
  'refunds',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    orderId: varchar('order_id', { length: 40 }).notNull(),
    amountCents: bigint('amount_cents', { mode: 'number', unsigned: true }).notNull(),
    restock: boolean('restock').notNull().default(false),
    reason: varchar('reason', { length: 255 }),
    status: mysqlEnum('status', refundStatuses).notNull(),
    failureCode: varchar('failure_code', { length: 64 }),
    // The processor's id of the refund once it accepted it (unique: a refund that comes back from the
    // processor, e.g. by webhook, is recognised by it).
    gatewayRef: varchar('gateway_ref', { length: 80 }),
    // Who asked (a user's or an API key's id): the Idempotency-Key is theirs, as an order's is its user's.
    requestedBy: varchar('requested_by', { length: 40 }).notNull(),
    actorType: mysqlEnum('actor_type', actorTypes).notNull(),
    idempotencyKey: varchar('idempotency_key', { length: 255 }),
    requestHash: char('request_hash', { length: 64 }),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    uniqueIndex('refunds_requester_idem_uq').on(t.requestedBy, t.idempotencyKey),
    uniqueIndex('refunds_gateway_ref_uq').on(t.gatewayRef),
    index('refunds_order_created_idx').on(t.orderId, t.createdAt),
    index('refunds_status_updated_idx').on(t.status, t.updatedAt),
  ],
);

/** The lines a refund gives back (none for a refund by amount). */
export const refundItems = mysqlTable(
  'refund_items',
  {
    refundId: varchar('refund_id', { length: 40 }).notNull(),
    productId: varchar('product_id', { length: 40 }).notNull(),
    quantity: int('quantity', { unsigned: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.refundId, t.productId] })],
);
