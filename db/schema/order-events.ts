import { bigint, datetime, index, mysqlEnum, mysqlTable, varchar } from 'drizzle-orm/mysql-core';
import { orderStatuses } from './orders';

/** Who caused a change (domain/actor.ts); rows that do not say are the system's own. */
export const actorTypes = ['user', 'admin', 'api_key', 'system'] as const;
export type ActorType = (typeof actorTypes)[number];

export const orderEvents = mysqlTable(
  'order_events',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    orderId: varchar('order_id', { length: 40 }).notNull(),
    fromStatus: mysqlEnum('from_status', orderStatuses),
    toStatus: mysqlEnum('to_status', orderStatuses).notNull(),
    reason: varchar('reason', { length: 255 }),
    at: datetime('at', { mode: 'date', fsp: 3 }).notNull(),
    // The group-committed steps' hand-written INSERTs leave these out: their changes are the system's.
    actorType: mysqlEnum('actor_type', actorTypes).notNull().default('system'),
    actorId: varchar('actor_id', { length: 40 }),
  },
  (t) => [index('order_events_order_idx').on(t.orderId, t.id)],
);
