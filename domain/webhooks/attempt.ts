import { and, eq, sql } from 'drizzle-orm';
import type { RowDataPacket } from 'mysql2';
import { Webhook } from 'standardwebhooks';
import type { Db } from '../../db/client';
import { webhookDeliveries, webhookEndpoints } from '../../db/schema';
import type { EventRow, RenderEvents } from '../outbox/types';
import { decryptPii } from '../users/pii';
import { checkedTarget, checkUrlShape, type Guard, TargetRefused } from './addresses';
import { postPinned } from './http-post';
import { failingWindowMs, type RetryPolicy, retryDelayMs } from './schedule';

export interface AttemptSettings {
  key: Uint8Array<ArrayBuffer>;
  guard: Guard;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Renders the event as GET /events shows it (the body sent). */
  render: RenderEvents;
  /** Extra trusted certificate authorities (PEM): a test's own, for a receiver on https. */
  ca?: string;
}

export type AttemptOutcome =
  /** Nothing was sent: the delivery is gone, not pending, or this attempt was made already. */
  | { kind: 'skipped'; why: string }
  | { kind: 'succeeded'; status: number }
  /** Failed; `retryAt` when another attempt is owed. */
  | { kind: 'failed'; error: string; retryAt?: Date; endpointDisabled?: boolean };

/** What one attempt needs, read in one statement: the delivery, its endpoint and its event. */
export interface AttemptInput {
  id: string;
  endpointId: string;
  status: string;
  attempts: number;
  /** Null when the endpoint was deleted. */
  endpoint: { url: string; secretEnc: string; status: string; failingSince: Date | null } | null;
  /** Null when the event is past retention. */
  event: EventRow | null;
}

export async function loadAttempt(db: Db, deliveryId: string): Promise<AttemptInput | undefined> {
  const [rows] = await db.$client.query<RowDataPacket[]>(
    'SELECT d.`id`, d.`endpoint_id` AS `endpointId`, d.`status`, d.`attempts`, e.`url`, e.`secret_enc` AS `secretEnc`, ' +
      'e.`status` AS `endpointStatus`, e.`failing_since` AS `failingSince`, ev.`id` AS `eventId`, ev.`seq`, ev.`type`, ' +
      'ev.`order_id` AS `orderId`, ev.`refund_id` AS `refundId`, ev.`created_at` AS `createdAt` ' +
      'FROM `webhook_deliveries` d LEFT JOIN `webhook_endpoints` e ON e.`id` = d.`endpoint_id` ' +
      'LEFT JOIN `events` ev ON ev.`id` = d.`event_id` WHERE d.`id` = ?',
    [deliveryId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    id: r.id,
    endpointId: r.endpointId,
    status: r.status,
    attempts: Number(r.attempts),
    endpoint: r.url
      ? { url: r.url, secretEnc: r.secretEnc, status: r.endpointStatus, failingSince: r.failingSince }
      : null,
    event: r.eventId
      ? {
          id: Number(r.eventId),
          seq: Number(r.seq),
          type: r.type,
          orderId: r.orderId,
          refundId: r.refundId,
          createdAt: r.createdAt,
        }
      : null,
  };
}

/**
 * Attempt number `made + 1` of one delivery: checked again, signed, sent, recorded. No transaction is
 * open while the request runs (a slow receiver holds no connection or lock); the answer is recorded
 * in its own statement, only if the delivery is still at `made` attempts, so a duplicate job (Redis
 * re-delivering, the reconciler re-adding) never counts twice.
 */
export async function attemptDelivery(
  db: Db,
  s: AttemptSettings,
  d: AttemptInput | undefined,
  made: number,
): Promise<AttemptOutcome> {
  if (!d) return { kind: 'skipped', why: 'no such delivery (its endpoint was deleted)' };
  if (d.status !== 'pending' || d.attempts !== made) return { kind: 'skipped', why: 'attempt made already' };
  const ep = d.endpoint;
  if (!ep) return { kind: 'skipped', why: 'endpoint deleted' };
  if (ep.status !== 'enabled') {
    await record(db, d.id, made, { status: 'failed', error: 'endpoint disabled' });
    return { kind: 'failed', error: 'endpoint disabled' };
  }
  const row = d.event;
  if (!row) {
    await record(db, d.id, made, { status: 'failed', error: 'event past retention' });
    return { kind: 'failed', error: 'event past retention' };
  }
  const [event] = await s.render([row]);
  const body = JSON.stringify(event);
  const result = await send(s, ep.url, await decryptPii(s.key, ep.secretEnc), String(event?.id), body);
  const now = new Date();
  if (result.ok) {
    await record(db, d.id, made, { status: 'succeeded', code: result.status });
    // A success ends the endpoint's failing spell.
    if (ep.failingSince)
      await db
        .update(webhookEndpoints)
        .set({ failingSince: null })
        .where(eq(webhookEndpoints.id, d.endpointId));
    return { kind: 'succeeded', status: result.status };
  }
  const delay = retryDelayMs(s.retry, made + 1);
  const retryAt = delay === undefined ? undefined : new Date(now.getTime() + delay);
  await record(db, d.id, made, {
    status: retryAt ? 'pending' : 'failed',
    error: result.error,
    ...(result.status !== undefined ? { code: result.status } : {}),
    ...(retryAt ? { next: retryAt } : {}),
  });
  const endpointDisabled = await noteFailure(db, d.endpointId, ep.failingSince, now, s.retry, result.error);
  return { kind: 'failed', error: result.error, ...(retryAt ? { retryAt } : {}), endpointDisabled };
}

type SendResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

async function send(
  s: AttemptSettings,
  rawUrl: string,
  secret: string,
  id: string,
  body: string,
): Promise<SendResult> {
  let url: URL;
  let pinned: Awaited<ReturnType<typeof checkedTarget>>;
  try {
    // The guard again at every send, after resolving: the name may point elsewhere since it was saved.
    url = checkUrlShape(rawUrl, s.guard.allowPrivate);
    pinned = await checkedTarget(url, s.guard);
  } catch (err) {
    if (err instanceof TargetRefused) return { ok: false, error: `refused: ${err.message}` };
    throw err;
  }
  const at = new Date();
  const headers = {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
    'user-agent': 'Orderflow-Webhooks/1',
  };
  const r = await postPinned(url, pinned, headers, body, s.timeoutMs, s.ca);
  if (r.status !== undefined && !r.error) return { ok: true, status: r.status };
  return { ok: false, ...(r.status !== undefined ? { status: r.status } : {}), error: r.error ?? 'failed' };
}

async function record(
  db: Db,
  id: string,
  made: number,
  r: { status: 'pending' | 'succeeded' | 'failed'; code?: number; error?: string; next?: Date },
): Promise<void> {
  const now = new Date();
  await db
    .update(webhookDeliveries)
    .set({
      status: r.status,
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      lastStatusCode: r.code ?? null,
      lastError: r.error ? r.error.slice(0, 255) : null,
      nextAttemptAt: r.next ?? null,
      updatedAt: now,
    })
    .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.attempts, made)));
}

/**
 * A failed attempt starts the endpoint's failing spell (if none is running); an endpoint whose spell
 * has lasted the whole retry window (about three days at the defaults) without one success is
 * disabled, with the reason. Returns whether this failure disabled it.
 */
async function noteFailure(
  db: Db,
  endpointId: string,
  since: Date | null,
  now: Date,
  retry: RetryPolicy,
  error: string,
): Promise<boolean> {
  if (!since) {
    await db
      .update(webhookEndpoints)
      .set({ failingSince: now })
      .where(and(eq(webhookEndpoints.id, endpointId), sql`${webhookEndpoints.failingSince} IS NULL`));
    return false;
  }
  const window = failingWindowMs(retry);
  if (now.getTime() - since.getTime() < window) return false;
  const hours = Math.round(window / 3_600_000);
  const span = hours >= 1 ? `${hours} h` : `${Math.round(window / 1000)} s`;
  const [res] = await db
    .update(webhookEndpoints)
    .set({
      status: 'disabled',
      disabledReason: `every delivery failed for ${span}; last error: ${error}`.slice(0, 255),
      updatedAt: now,
    })
    .where(and(eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.status, 'enabled')));
  return res.affectedRows === 1;
}
