import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';
import { webhookDeliveries, webhookEndpoints } from '../../db/schema';
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
 * Makes new events visible to the endpoints' jobs: numbers them in commit order (the outbox's
 * sequencer), since each endpoint's job sends the events past its own place (`after_seq`) and must
 * never pass one whose transaction commits late. The jobs write each delivery's row with its first
 * attempt (domain/webhooks/deliver.ts), so nothing per (endpoint, event) is written here.
 */
export async function dispatchEvents(db: Db): Promise<void> {
  await sequenceEvents(db, { waitSeconds: 0 });
}

/** An endpoint with something to send, and whether it has waited longer than the grace period. */
export interface DueEndpoint {
  endpointId: string;
  overdue: boolean;
}

/**
 * The endpoints with something to send now, in one statement: an enabled endpoint with events past
 * its place in the outbox, or any endpoint with a delivery due (a retry, a manual retry; a disabled
 * endpoint's due ones are ended by its job). MySQL is the schedule, so this finds whatever Redis
 * lost too. `overdue` marks an endpoint whose oldest owed send has waited longer than `graceMs`: its
 * job should have taken it by then. Per endpoint (a few rows) two index dives: the head of its part
 * of the (status, endpoint, due) index, and the first event past its place (however long the
 * backlog, nothing is scanned).
 */
export async function dueEndpoints(db: Db, graceMs: number, limit = 1000): Promise<DueEndpoint[]> {
  const now = Date.now();
  const [rows] = await db.$client.query<
    ({ endpointId: string; oldest: Date | null; fresh: Date | null } & RowDataPacket)[]
  >(
    'SELECT e.`id` AS `endpointId`, (SELECT d.`next_attempt_at` FROM `webhook_deliveries` d ' +
      "WHERE d.`status` = 'pending' AND d.`endpoint_id` = e.`id` ORDER BY d.`next_attempt_at` LIMIT 1) AS `oldest`, " +
      "IF(e.`status` = 'enabled', (SELECT ev.`created_at` FROM `events` ev WHERE ev.`seq` > e.`after_seq` " +
      'ORDER BY ev.`seq` LIMIT 1), NULL) AS `fresh` ' +
      'FROM `webhook_endpoints` e ' +
      'HAVING `oldest` <= ? OR `fresh` IS NOT NULL LIMIT ?',
    [new Date(now), limit],
  );
  return rows.map((r) => {
    const waited = Math.min(
      r.oldest && r.oldest.getTime() <= now ? r.oldest.getTime() : now,
      r.fresh ? r.fresh.getTime() : now,
    );
    return { endpointId: r.endpointId, overdue: waited < now - graceMs };
  });
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
