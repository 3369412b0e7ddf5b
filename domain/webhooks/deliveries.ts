import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';
import { select, write } from '../../db/raw';
import { webhookDeliveries, webhookEndpoints } from '../../db/schema';
import { newId } from '../../lib/ids';
import { conflict, DomainError, notFound } from '../errors';
import { sequenceEvents } from '../outbox/sequence';
import { publicEventId } from '../outbox/types';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface DeliveryView {
  id: string;
  eventId: string;
  type: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode?: number;
  lastError?: string;
  nextAttemptAt?: string;
  createdAt: string;
}

/** A delivery made due: its next attempt is attempt `attempts + 1`, sent by its endpoint's job. */
export interface DueDelivery {
  id: string;
  endpointId: string;
  attempts: number;
  /** When it is due (now for a new one). */
  at: Date;
}

/**
 * Turns new events into deliveries: one row per (endpoint, event) for each enabled endpoint that
 * subscribes to the event's type and existed when it happened. Reads the outbox in commit order
 * after the dispatcher's cursor and moves the cursor in the same transaction as the rows it writes,
 * so every event gets its deliveries once (one dispatcher at a time: the cursor row is locked, and a
 * second one skips instead of waiting). Returns the new deliveries: pending and due now, they are
 * found by `dueEndpoints` like every other due delivery.
 */
export async function dispatchEvents(db: Db, batch = 500): Promise<DueDelivery[]> {
  await sequenceEvents(db, { waitSeconds: 0 });
  return db.transaction(async (tx) => {
    const [cursor] = await select<{ afterSeq: number }>(
      tx,
      'SELECT `after_seq` AS `afterSeq` FROM `webhook_dispatch` WHERE `id` = 1 FOR UPDATE SKIP LOCKED',
      [],
    );
    if (!cursor) return [];
    // drizzle's session hands datetimes back as UTC text (`2026-12-05 00:26:01.696`).
    const events = await select<{ id: number; seq: number; type: string; createdAt: string }>(
      tx,
      'SELECT `id`, `seq`, `type`, `created_at` AS `createdAt` FROM `events` WHERE `seq` > ? ORDER BY `seq` LIMIT ?',
      [cursor.afterSeq, batch],
    );
    const last = events.at(-1);
    if (!last) return [];
    const endpoints = await tx
      .select({
        id: webhookEndpoints.id,
        events: webhookEndpoints.events,
        createdAt: webhookEndpoints.createdAt,
      })
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.status, 'enabled'));
    const now = new Date();
    const made: DueDelivery[] = [];
    const params: unknown[] = [];
    for (const e of events) {
      const happened = new Date(`${e.createdAt.replace(' ', 'T')}Z`).getTime();
      for (const ep of endpoints) {
        if (happened < ep.createdAt.getTime()) continue;
        if (ep.events !== '*' && !ep.events.split(',').includes(e.type)) continue;
        const id = newId('whd');
        made.push({ id, endpointId: ep.id, attempts: 0, at: now });
        params.push(id, ep.id, e.id, e.type, now);
      }
    }
    if (made.length) {
      // Five values a row: the constants are SQL, and the two other times repeat the row's due time
      // (a VALUES list may name a column set earlier in it), so the client formats one date per row.
      await write(
        tx,
        'INSERT IGNORE INTO `webhook_deliveries` (`id`, `endpoint_id`, `event_id`, `event_type`, ' +
          '`next_attempt_at`, `status`, `attempts`, `created_at`, `updated_at`) VALUES ' +
          DELIVERY_ROW +
          `, ${DELIVERY_ROW}`.repeat(made.length - 1),
        params,
      );
    }
    await write(tx, 'UPDATE `webhook_dispatch` SET `after_seq` = ? WHERE `id` = 1', [last.seq]);
    return made;
  });
}

const DELIVERY_ROW = "(?, ?, ?, ?, ?, 'pending', 0, `next_attempt_at`, `next_attempt_at`)";

/** An endpoint with deliveries due, and whether one has been due for longer than the grace period. */
export interface DueEndpoint {
  endpointId: string;
  overdue: boolean;
}

/**
 * The endpoints that have pending deliveries due now, in one statement: MySQL is the schedule (a
 * delivery's `next_attempt_at`), so this one query finds new deliveries, retries come due, manual
 * retries and whatever Redis lost. `overdue` marks an endpoint whose oldest due delivery has waited
 * longer than `graceMs`: its job should have taken it by then.
 */
export async function dueEndpoints(db: Db, graceMs: number, limit = 1000): Promise<DueEndpoint[]> {
  const now = Date.now();
  const [rows] = await db.$client.query<({ endpointId: string; oldest: Date } & RowDataPacket)[]>(
    // Per endpoint (a few rows), its oldest pending delivery: one lookup at the head of the endpoint's
    // part of the (status, endpoint, due) index, however many deliveries wait (a dead endpoint's
    // backlog of retries due in days is never scanned).
    'SELECT e.`id` AS `endpointId`, (SELECT d.`next_attempt_at` FROM `webhook_deliveries` d ' +
      "WHERE d.`status` = 'pending' AND d.`endpoint_id` = e.`id` ORDER BY d.`next_attempt_at` LIMIT 1) AS `oldest` " +
      'FROM `webhook_endpoints` e ' +
      'HAVING `oldest` <= ? LIMIT ?',
    [new Date(now), limit],
  );
  return rows.map((r) => ({ endpointId: r.endpointId, overdue: r.oldest.getTime() < now - graceMs }));
}

type DeliveryRow = typeof webhookDeliveries.$inferSelect;

export function deliveryView(r: DeliveryRow): DeliveryView {
  return {
    id: r.id,
    eventId: publicEventId(r.eventId),
    type: r.eventType,
    status: r.status,
    attempts: r.attempts,
    ...(r.lastStatusCode !== null ? { lastStatusCode: r.lastStatusCode } : {}),
    ...(r.lastError ? { lastError: r.lastError } : {}),
    ...(r.status === 'pending' && r.nextAttemptAt ? { nextAttemptAt: r.nextAttemptAt.toISOString() } : {}),
    createdAt: r.createdAt.toISOString(),
  };
}

/** An endpoint's deliveries, newest first (ids are time-ordered); `cursor` is the last id of a page. */
export async function listDeliveries(
  db: Db,
  endpointId: string,
  q: { status?: DeliveryStatus | undefined; limit: number; cursor?: string | undefined },
): Promise<{ data: DeliveryView[]; nextCursor: string | null }> {
  const [endpoint] = await db
    .select({ id: webhookEndpoints.id })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, endpointId))
    .limit(1);
  if (!endpoint) throw notFound('Webhook endpoint');
  if (q.cursor !== undefined && !/^whd_[0-9a-f]{32}$/.test(q.cursor)) {
    throw new DomainError('validation', 'Invalid cursor', [
      { field: 'cursor', message: 'not a cursor from this API' },
    ]);
  }
  const where: (SQL | undefined)[] = [eq(webhookDeliveries.endpointId, endpointId)];
  if (q.status) where.push(eq(webhookDeliveries.status, q.status));
  if (q.cursor) where.push(lt(webhookDeliveries.id, q.cursor));
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(and(...where))
    .orderBy(desc(webhookDeliveries.id))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  return {
    data: page.map(deliveryView),
    nextCursor: rows.length > q.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/** Sends a delivery again now (whatever its state): pending, due now, its attempts kept. */
export async function retryDelivery(db: Db, id: string): Promise<DueDelivery> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)).for('update');
    if (!row) throw notFound('Webhook delivery');
    const [endpoint] = await tx
      .select({ status: webhookEndpoints.status })
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, row.endpointId));
    if (endpoint?.status !== 'enabled') throw conflict('Its endpoint is disabled: enable it first');
    const now = new Date();
    await tx
      .update(webhookDeliveries)
      .set({ status: 'pending', nextAttemptAt: now, updatedAt: now })
      .where(eq(webhookDeliveries.id, id));
    return { id, endpointId: row.endpointId, attempts: row.attempts, at: now };
  });
}
