import { bigint, datetime, mysqlTable, uniqueIndex, varchar } from 'drizzle-orm/mysql-core';

/**
 * The outbox: one narrow row per event, written in the transaction of the change it announces. The
 * event's `data` is rendered when it is read (from the order, its timeline up to this event, or the
 * refund), so a batch pays for a few short columns per order, not a JSON document. `seq` is the commit
 * order: null until the sequencer (domain/outbox/sequence.ts) numbers the row after it committed.
 * `traceParent` is the W3C traceparent of the span that made the change (null with tracing off): the
 * event's webhook deliveries are spans of that trace (docs/tracing.md).
 */
export const events = mysqlTable(
  'events',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    seq: bigint('seq', { mode: 'number', unsigned: true }),
    type: varchar('type', { length: 32 }).notNull(),
    orderId: varchar('order_id', { length: 40 }).notNull(),
    refundId: varchar('refund_id', { length: 40 }),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    traceParent: varchar('trace_parent', { length: 55 }),
  },
  (t) => [uniqueIndex('events_seq_uq').on(t.seq)],
);
