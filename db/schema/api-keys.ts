import { datetime, index, mysqlEnum, mysqlTable, varchar } from 'drizzle-orm/mysql-core';
import { actorTypes } from './order-events';

/**
 * Credentials for other systems. Only a keyed hash of the key's secret is stored (HMAC-SHA256 with a
 * server-side key, domain/api-keys/secrets.ts); the row is looked up by the id the key embeds. A
 * deleted key keeps its row (`deleted_at`) so that timelines naming it as an actor still resolve.
 */
export const apiKeys = mysqlTable(
  'api_keys',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    name: varchar('name', { length: 100 }).notNull(),
    /** Comma-separated scopes (domain/api-keys/scopes.ts). */
    scopes: varchar('scopes', { length: 255 }).notNull(),
    secretHash: varchar('secret_hash', { length: 64 }).notNull(),
    createdByType: mysqlEnum('created_by_type', actorTypes).notNull(),
    createdBy: varchar('created_by', { length: 40 }),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    lastUsedAt: datetime('last_used_at', { mode: 'date', fsp: 3 }),
    deletedAt: datetime('deleted_at', { mode: 'date', fsp: 3 }),
    deletedBy: varchar('deleted_by', { length: 40 }),
  },
  (t) => [index('api_keys_created_idx').on(t.createdAt)],
);
