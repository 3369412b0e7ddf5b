import { bigint, char, datetime, index, mysqlEnum, mysqlTable, varchar } from 'drizzle-orm/mysql-core';

/**
 * The simulated payment processor's own ledger. A real processor keeps this on its side;
 * the simulation keeps it in MySQL so that it survives our crashes and Redis losses,
 * which is what makes "a retried charge charges once" testable.
 */
export const gatewayTransactions = mysqlTable(
  'gateway_transactions',
  {
    idempotencyKey: varchar('idempotency_key', { length: 80 }).primaryKey(),
    ref: varchar('ref', { length: 80 }).notNull(),
    type: mysqlEnum('type', ['charge', 'refund', 'authorization', 'capture', 'void']).notNull(),
    outcome: mysqlEnum('outcome', ['succeeded', 'declined']).notNull(),
    declineCode: varchar('decline_code', { length: 64 }),
    paymentRef: varchar('payment_ref', { length: 80 }),
    amountCents: bigint('amount_cents', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    at: datetime('at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [index('gateway_tx_payment_idx').on(t.paymentRef)],
);
