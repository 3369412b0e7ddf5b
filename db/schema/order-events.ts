import { bigint, datetime, index, mysqlEnum, mysqlTable, varchar } from 'drizzle-orm/mysql-core';
import { orderStatuses } from './orders';

export const orderEvents = mysqlTable(
  'order_events',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    orderId: varchar('order_id', { length: 40 }).notNull(),
    fromStatus: mysqlEnum('from_status', orderStatuses),
    toStatus: mysqlEnum('to_status', orderStatuses).notNull(),
    reason: varchar('reason', { length: 255 }),
    at: datetime('at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [index('order_events_order_idx').on(t.orderId, t.id)],
);
