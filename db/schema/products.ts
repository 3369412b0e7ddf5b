import {
  bigint,
  char,
  datetime,
  int,
  mysqlEnum,
  mysqlTable,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';
import { actorTypes } from './order-events';

export const products = mysqlTable(
  'products',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    sku: varchar('sku', { length: 64 }).notNull(),
    name: varchar('name', { length: 200 }).notNull(),
    priceCents: bigint('price_cents', { mode: 'number', unsigned: true }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    // Unsigned columns make "never below zero" a property of the table too, not only of the queries.
    available: int('available', { unsigned: true }).notNull().default(0),
    reserved: int('reserved', { unsigned: true }).notNull().default(0),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
    /** Who created it (domain/actor.ts): an admin, an API key with catalog:write, or the seed (system). */
    createdByType: mysqlEnum('created_by_type', actorTypes).notNull().default('system'),
    createdBy: varchar('created_by', { length: 40 }),
  },
  (t) => [uniqueIndex('products_sku_uq').on(t.sku)],
);
