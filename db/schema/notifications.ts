import {
  datetime,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  text,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';

export const notificationChannels = ['email', 'sms'] as const;
export const notificationStatuses = ['queued', 'sent', 'failed'] as const;

export const notifications = mysqlTable(
  'notifications',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    orderId: varchar('order_id', { length: 40 }),
    channel: mysqlEnum('channel', notificationChannels).notNull(),
    recipient: varchar('recipient', { length: 254 }).notNull(),
    subject: varchar('subject', { length: 200 }),
    body: text('body').notNull(),
    status: mysqlEnum('status', notificationStatuses).notNull(),
    attempts: int('attempts', { unsigned: true }).notNull().default(0),
    // "<orderId>:<outcome>:<channel>": one message per order, outcome and channel however often notify runs.
    dedupeKey: varchar('dedupe_key', { length: 120 }),
    providerRef: varchar('provider_ref', { length: 120 }),
    lastError: varchar('last_error', { length: 500 }),
    // The id of the `deliver` job that sends this message with the rest of its notify batch (one job
    // per batch); null for a message sent by a job of its own (`<id>-send`). Set when the row is
    // written, never changed: the reconciler re-adds exactly this job when the message stays queued.
    sendJob: varchar('send_job', { length: 40 }),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    uniqueIndex('notifications_dedupe_uq').on(t.dedupeKey),
    index('notifications_order_idx').on(t.orderId),
    index('notifications_status_idx').on(t.status, t.updatedAt),
    index('notifications_send_job_idx').on(t.sendJob),
  ],
);
