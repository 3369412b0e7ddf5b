import { datetime, index, mysqlTable, varchar } from 'drizzle-orm/mysql-core';

/** One row per refresh token; a family is every token rotated from one login. */
export const refreshTokens = mysqlTable(
  'refresh_tokens',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    userId: varchar('user_id', { length: 40 }).notNull(),
    familyId: varchar('family_id', { length: 40 }).notNull(),
    secretHash: varchar('secret_hash', { length: 64 }).notNull(),
    expiresAt: datetime('expires_at', { mode: 'date', fsp: 3 }).notNull(),
    usedAt: datetime('used_at', { mode: 'date', fsp: 3 }),
    revokedAt: datetime('revoked_at', { mode: 'date', fsp: 3 }),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    index('refresh_tokens_family_idx').on(t.familyId),
    // logout-all and the per-user sweep on rotation; the maintenance sweep of dead rows.
    index('refresh_tokens_user_idx').on(t.userId),
    index('refresh_tokens_expires_idx').on(t.expiresAt),
    index('refresh_tokens_revoked_idx').on(t.revokedAt),
  ],
);
