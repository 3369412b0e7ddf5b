import { and, eq, inArray, like, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';
import { caseWhen, marks, write } from '../../db/raw';
import { notifications, type OrderStatus } from '../../db/schema';
import { type BatcherOptions, MicroBatcher } from '../../lib/batcher';
import { newId } from '../../lib/ids';
import { notFound } from '../errors';
import { CircuitOpenError } from '../resilience';
import { decryptPii, encryptPii } from '../users/pii';
import { getContact } from '../users/users';
import { type EmailTransport, PermanentSendError, type SendResult, type SmsTransport } from './transports';

export interface Transports {
  email: EmailTransport;
  sms: SmsTransport;
}

export interface NotificationView {
  id: string;
  channel: 'email' | 'sms';
  to: string;
  status: 'queued' | 'sent' | 'failed';
  attempts: number;
}

type Channel = NotificationView['channel'];

/** What an outcome message is written from: the order row as it is once final. */
export interface OutcomeOrder {
  id: string;
  userId: string;
  status: OrderStatus;
  totalCents: number;
  currency: string;
  failureReason: string | null;
}

export const money = (cents: number, currency: string) => `${(cents / 100).toFixed(2)} ${currency}`;

export function outcomeText(status: OrderStatus, orderId: string, total: string, reason: string | null) {
  switch (status) {
    case 'completed':
      return {
        subject: `Order ${orderId} confirmed`,
        text: `Thank you! Your order ${orderId} (${total}) is confirmed.`,
      };
    case 'rejected':
      if (reason === 'too_many_holds') {
        return {
          subject: `Order ${orderId} could not be accepted`,
          text: `Sorry: order ${orderId} could not be accepted while you have other orders waiting for payment or review. You have not been charged.`,
        };
      }
      if (reason === 'fraud_suspected') {
        return {
          subject: `Order ${orderId} could not be accepted`,
          text: `Sorry: we could not accept order ${orderId}. You have not been charged.`,
        };
      }
      return {
        subject: `Order ${orderId} could not be fulfilled`,
        text: `Sorry: an item of order ${orderId} is out of stock. You have not been charged.`,
      };
    case 'payment_failed':
      return {
        subject: `Payment for order ${orderId} failed`,
        text: `Your payment for order ${orderId} was declined (${reason ?? 'declined'}). Nothing was charged.`,
      };
    case 'cancelled':
      if (reason === 'review_expired') {
        return {
          subject: `Order ${orderId} cancelled`,
          text: `Order ${orderId} could not be confirmed in time and has been cancelled. You have not been charged.`,
        };
      }
      return reason === 'reservation_expired'
        ? {
            subject: `Order ${orderId} expired`,
            text: `Order ${orderId} was not paid in time and has been cancelled.`,
          }
        : {
            subject: `Order ${orderId} cancelled`,
            text: `Order ${orderId} has been cancelled. Any payment has been refunded.`,
          };
    default:
      return {
        subject: `Order ${orderId} could not be processed`,
        text: `We could not process order ${orderId}. Any payment has been refunded.`,
      };
  }
}

/**
 * The outbox write: records the outcome messages of an order that just reached a final status. Call it
 * in the transaction of that transition (cancel, expiry, a step giving up), so the message exists
 * whenever the outcome does, whatever Redis is doing; the queue only delivers it, and the reconciler
 * re-sends it if the queue never got it. Returns the ids of this outcome's messages still to send.
 */
export async function recordOutcomeMessages(
  db: Db | Tx,
  piiKey: Uint8Array<ArrayBuffer>,
  order: OutcomeOrder,
): Promise<string[]> {
  const orderId = order.id;
  const contact = await getContact(db, piiKey, order.userId);
  if (!contact) return [];
  const { subject, text } = outcomeText(
    order.status,
    orderId,
    money(order.totalCents, order.currency),
    order.failureReason,
  );
  const now = new Date();
  const messages: { channel: Channel; recipient: string; subject: string | null; body: string }[] = [
    { channel: 'email', recipient: contact.email, subject, body: text },
  ];
  if (contact.phone) {
    messages.push({
      channel: 'sms',
      recipient: await encryptPii(piiKey, contact.phone),
      subject: null,
      body: text,
    });
  }
  const rows: (typeof notifications.$inferInsert)[] = messages.map((r) => ({
    ...r,
    id: newId('ntf'),
    orderId,
    status: 'queued' as const,
    dedupeKey: `${orderId}:${order.status}:${r.channel}`,
    createdAt: now,
    updatedAt: now,
  }));
  // The unique dedupe key turns a second insert into a no-op.
  await db
    .insert(notifications)
    .values(rows)
    .onDuplicateKeyUpdate({ set: { dedupeKey: sql`dedupe_key` } });
  const pending = await db
    .select({ id: notifications.id })
    .from(notifications)
    .where(
      and(like(notifications.dedupeKey, `${orderId}:${order.status}:%`), eq(notifications.status, 'queued')),
    );
  return pending.map((p) => p.id);
}

/** Records an ad-hoc message (the admin API); phone numbers are stored encrypted like the users'. */
export async function queueNotification(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  input: { channel: Channel; to: string; subject?: string; text: string },
): Promise<NotificationView> {
  const now = new Date();
  const id = newId('ntf');
  await db.insert(notifications).values({
    id,
    channel: input.channel,
    recipient: input.channel === 'sms' ? await encryptPii(piiKey, input.to) : input.to,
    subject: input.subject ?? null,
    body: input.text,
    status: 'queued',
    createdAt: now,
    updatedAt: now,
  });
  return { id, channel: input.channel, to: input.to, status: 'queued', attempts: 0 };
}

export async function getNotification(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  id: string,
): Promise<NotificationView> {
  const [row] = await db.select().from(notifications).where(eq(notifications.id, id)).limit(1);
  if (!row) throw notFound('Notification');
  return {
    id: row.id,
    channel: row.channel,
    to: row.channel === 'sms' ? await decryptPii(piiKey, row.recipient) : row.recipient,
    status: row.status,
    attempts: row.attempts,
  };
}

export type NotificationRow = typeof notifications.$inferSelect;

/** How `sendNotification` reads a message and records its success: one statement each, or grouped. */
export interface NotificationStore {
  read(id: string): Promise<NotificationRow | undefined>;
  /** Marks a still-queued message sent (a compare-and-set on `queued`), counting the try. */
  recordSent(id: string, providerRef: string): Promise<void>;
}

/** One statement per read and per record. */
export function directNotificationStore(db: Db): NotificationStore {
  return {
    async read(id) {
      const [row] = await db.select().from(notifications).where(eq(notifications.id, id)).limit(1);
      return row;
    },
    async recordSent(id, providerRef) {
      await db
        .update(notifications)
        .set({
          status: 'sent',
          attempts: sql`${notifications.attempts} + 1`,
          providerRef,
          lastError: null,
          updatedAt: new Date(),
        })
        .where(and(eq(notifications.id, id), eq(notifications.status, 'queued')));
    },
  };
}

/**
 * The reads and the success records of the messages a worker sends at the same time, grouped (as the
 * saga steps' group commit): the reads of a couple of milliseconds are one `SELECT … IN`, the
 * successes one `UPDATE … CASE` (the same compare-and-set on `queued` per row). Each message still
 * goes its own way between the two — its own provider call through the transport, its own failure
 * record — so a slow or failing message never holds or fails its neighbours.
 */
export function groupedNotificationStore(db: Db, options: BatcherOptions): NotificationStore {
  const reads = new MicroBatcher<string, NotificationRow | undefined>(async (ids) => {
    const rows = await db.select().from(notifications).where(inArray(notifications.id, ids));
    const byId = new Map(rows.map((r) => [r.id, r]));
    return new Map(ids.map((id) => [id, { ok: true as const, value: byId.get(id) }]));
  }, options);
  const refs = new Map<string, string>();
  const sent = new MicroBatcher<string, void>(async (ids) => {
    try {
      await recordSentMany(db, new Map(ids.map((k) => [k, refs.get(k) ?? ''])));
    } finally {
      for (const k of ids) refs.delete(k);
    }
    return new Map(ids.map((k) => [k, { ok: true as const, value: undefined }]));
  }, options);
  return {
    read: (id) => reads.submit(id),
    recordSent: (id, providerRef) => {
      refs.set(id, providerRef);
      return sent.submit(id);
    },
  };
}

/**
 * Marks many still-queued messages sent in one `UPDATE … CASE` (each with its provider's reference),
 * the same compare-and-set on `queued` per row as a single record, each try counted.
 */
export async function recordSentMany(db: Db, providerRefs: ReadonlyMap<string, string>): Promise<void> {
  if (providerRefs.size === 0) return;
  const now = new Date();
  const sorted = [...providerRefs.keys()].sort();
  const params: unknown[] = [];
  const ref = caseWhen(
    '`notifications`.`id`',
    sorted.map((k) => [k, providerRefs.get(k) || null] as const),
    params,
  );
  params.push(now, ...sorted);
  // Through the primary key, forced (as the saga batches' updates): a scan would lock other rows.
  await write(
    db,
    `UPDATE \`notifications\` FORCE INDEX (PRIMARY) SET \`status\` = 'sent', ` +
      `\`attempts\` = \`notifications\`.\`attempts\` + 1, \`provider_ref\` = ${ref}, \`last_error\` = NULL, ` +
      `\`updated_at\` = ? WHERE (\`notifications\`.\`id\` IN (${marks(sorted.length)}) AND \`notifications\`.\`status\` = 'queued')`,
    params,
  );
}

/**
 * Sends one queued message. A transient provider error propagates (the job retries it); a
 * permanent one marks the message failed. The notification id is the provider's idempotency key.
 */
export async function sendNotification(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  transports: Transports,
  id: string,
  store: NotificationStore = directNotificationStore(db),
): Promise<NotificationView['status'] | 'missing'> {
  const row = await store.read(id);
  if (!row) return 'missing';
  if (row.status !== 'queued') return row.status;
  let result: SendResult;
  try {
    result = await callProvider(piiKey, transports, row);
  } catch (err) {
    const failure = sendFailure(err);
    await recordFailures(db, [id], failure);
    if (failure.permanent) return 'failed';
    throw err;
  }
  await store.recordSent(id, result.providerRef);
  return 'sent';
}

/** Hands one message to its channel's provider, under the message's id as idempotency key. */
export async function callProvider(
  piiKey: Uint8Array<ArrayBuffer>,
  transports: Transports,
  row: NotificationRow,
): Promise<SendResult> {
  return row.channel === 'email'
    ? transports.email.send({
        to: row.recipient,
        subject: row.subject ?? '(no subject)',
        text: row.body,
        idempotencyKey: row.id,
      })
    : transports.sms.send({
        to: await decryptPii(piiKey, row.recipient),
        text: row.body,
        idempotencyKey: row.id,
      });
}

/** What a failed provider call means for its message's row. */
export interface SendFailure {
  message: string;
  /** False when an open circuit refused the call before it reached the provider: not a try. */
  tried: boolean;
  /** The provider refused the message for good: it is marked failed. */
  permanent: boolean;
}

export function sendFailure(err: unknown): SendFailure {
  return {
    message: ((err as Error).message ?? 'send failed').slice(0, 500),
    tried: !(err instanceof CircuitOpenError),
    permanent: err instanceof PermanentSendError,
  };
}

/**
 * Records one failure on each of these still-queued messages (a compare-and-set on `queued`): the try
 * counted (unless refused by an open circuit), the error kept, and a permanent one marks them failed.
 */
export async function recordFailures(db: Db, ids: string[], failure: SendFailure): Promise<void> {
  if (ids.length === 0) return;
  await db
    .update(notifications)
    .set({
      ...(failure.tried ? { attempts: sql`${notifications.attempts} + 1` } : {}),
      ...(failure.permanent ? { status: 'failed' as const } : {}),
      lastError: failure.message,
      updatedAt: new Date(),
    })
    .where(and(inArray(notifications.id, ids), eq(notifications.status, 'queued')));
}

export async function markFailed(db: Db, id: string, message: string): Promise<void> {
  await db
    .update(notifications)
    .set({ status: 'failed', lastError: message.slice(0, 500), updatedAt: new Date() })
    .where(and(eq(notifications.id, id), eq(notifications.status, 'queued')));
}
