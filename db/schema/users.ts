import { datetime, mysqlEnum, mysqlTable, uniqueIndex, varchar } from 'drizzle-orm/mysql-core';

export const roles = ['user', 'admin'] as const;
export type Role = (typeof roles)[number];

export const users = mysqlTable(
  'users',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    email: varchar('email', { length: 254 }).notNull(),
    passwordHash: varchar('password_hash', { length: 255 }).notNull(),
    name: varchar('name', { length: 100 }).notNull(),
    // AES-256-GCM ciphertext ("v1.<iv>.<ciphertext+tag>"), never the number itself.
    phoneEnc: varchar('phone_enc', { length: 255 }),
    role: mysqlEnum('role', roles).notNull().default('user'),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [uniqueIndex('users_email_uq').on(t.email)],
);
