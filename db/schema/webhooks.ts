import {
  bigint,
  datetime,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';

export const webhookEndpointStatuses = ['enabled', 'disabled'] as const;
export const webhookDeliveryStatuses = ['pending', 'succeeded', 'failed'] as const;

export const webhookEndpoints = mysqlTable('webhook_endpoints', {
  id: varchar('id', { length: 40 }).primaryKey(),
  url: varchar('url', { length: 2048 }).notNull(),
  // The subscribed event types, comma-separated, or `*`.
  events: varchar('events', { length: 1024 }).notNull(),
  description: varchar('description', { length: 255 }),
  // The signing secret, encrypted like personal data (domain/users/pii.ts).
  secretEnc: varchar('secret_enc', { length: 255 }).notNull(),
  status: mysqlEnum('status', webhookEndpointStatuses).notNull(),
  disabledReason: varchar('disabled_reason', { length: 255 }),
  // Set by the first failed attempt after a success (or ever): disabling counts from here.
  failingSince: datetime('failing_since', { mode: 'date', fsp: 3 }),
  // Its place in the outbox: every event with `seq` up to here has been attempted once (its delivery
  // row written with the outcome) or was not for this endpoint.
  afterSeq: bigint('after_seq', { mode: 'number', unsigned: true }).notNull().default(0),
  createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
  updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
});

export const webhookDeliveries = mysqlTable(
  'webhook_deliveries',
  {
    id: varchar('id', { length: 40 }).primaryKey(),
    endpointId: varchar('endpoint_id', { length: 40 }).notNull(),
    eventId: bigint('event_id', { mode: 'number', unsigned: true }).notNull(),
    eventType: varchar('event_type', { length: 32 }).notNull(),
    status: mysqlEnum('status', webhookDeliveryStatuses).notNull(),
    attempts: int('attempts', { unsigned: true }).notNull().default(0),
    lastStatusCode: int('last_status_code'),
    lastError: varchar('last_error', { length: 255 }),
    nextAttemptAt: datetime('next_attempt_at', { mode: 'date', fsp: 3 }),
    createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
    updatedAt: datetime('updated_at', { mode: 'date', fsp: 3 }).notNull(),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_endpoint_event_uq').on(t.endpointId, t.eventId),
    // Newest first per endpoint: delivery ids are time-ordered (UUIDv7).
    index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.id),
    // One endpoint's due deliveries, oldest first (its job's batch), and which endpoints have any due
    // (the dispatcher's MIN per endpoint: a loose scan, one step per endpoint).
    index('webhook_deliveries_endpoint_due_idx').on(t.status, t.endpointId, t.nextAttemptAt),
  ],
);
