import { bigint, int, mysqlTable, primaryKey, varchar } from 'drizzle-orm/mysql-core';

export const orderItems = mysqlTable(
  'order_items',
  {
    orderId: varchar('order_id', { length: 40 }).notNull(),
    productId: varchar('product_id', { length: 40 }).notNull(),
    quantity: int('quantity', { unsigned: true }).notNull(),
    unitPriceCents: bigint('unit_price_cents', { mode: 'number', unsigned: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.productId] })],
);
