import { and, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { valueRows, write } from '../../db/raw';
import { notifications } from '../../db/schema';
import { newId } from '../../lib/ids';
import { notFound } from '../errors';
import { money, outcomeText } from '../notifications/notifications';
import type { OrderContext } from './context';
import {
  type Decided,
  type LockedWithLines,
  lockOrdersWithLines,
  moveStockMany,
  transitionMany,
  unitsPerProduct,
} from './group-commit';
import { isFinal, type OrderStatus } from './status';

export interface Finished {
  status: OrderStatus;
  /** True when this run completed the order. */
  completed: boolean;
  /** The messages still to send; null when the order is not final yet (an earlier step is still ending it). */
  messages: QueuedMessage[] | null;
}

/**
 * A recorded message still to send, and the send batch it was recorded under: the one `deliver` job
 * that sends it with the rest of its batch. Null when it was recorded elsewhere (a cancel, an expiry)
 * and is sent by a job of its own. A replay keeps the batch the row was first written with.
 */
export interface QueuedMessage {
  id: string;
  sendJob: string | null;
}

/**
 * The notify step for many orders in one transaction (group commit): every `paid` order becomes
 * `completed` (its held units leave the books), and every final order gets its outcome messages
 * recorded (one per channel, deduplicated per order, outcome and channel, by `recordOutcomeMessages`)
 * — the completion and the intent to tell the customer commit
 * together. The new messages are recorded under `sendJob`, the id the caller chose (before the
 * transaction) for the one job that will send them; sending is left to the caller, after the commit.
 */
export async function completeAndRecordOutcomes(
  ctx: OrderContext,
  orderIds: string[],
  sendJob: string,
): Promise<Map<string, Decided<Finished>>> {
  const out = new Map<string, Decided<Finished>>();
  const products: string[] = [];
  const events = await ctx.db.transaction(async (tx) => {
    // The orders, their lines and their customers' contacts: one statement.
    const locked = await lockOrdersWithLines(tx, orderIds, true);
    const paid = orderIds.filter((id) => locked.get(id)?.status === 'paid');
    const consumed = unitsPerProduct(paid.map((id) => locked.get(id)?.lines ?? []));
    const now = new Date();
    await moveStockMany(tx, { consumed }, now);
    products.push(...consumed.keys());
    const events = await transitionMany(
      tx,
      'paid',
      paid.map((orderId) => ({ orderId, to: 'completed' as const })),
      now,
    );
    const final: LockedWithLines[] = [];
    for (const id of orderIds) {
      const order = locked.get(id);
      if (!order) {
        out.set(id, { ok: false, error: notFound('Order') });
        continue;
      }
      const status: OrderStatus = order.status === 'paid' ? 'completed' : order.status;
      // Parked for fraud review: this flow ends here with nothing to say; the admin's decision starts
      // the next one.
      if (status === 'review') {
        out.set(id, { ok: true, value: { status, completed: false, messages: [] } });
        continue;
      }
      if (!isFinal(status)) {
        out.set(id, { ok: true, value: { status, completed: false, messages: null } });
        continue;
      }
      final.push({ ...order, status });
    }
    const messages = await recordOutcomes(tx, final, new Set(paid), now, sendJob);
    for (const order of final) {
      out.set(order.id, {
        ok: true,
        value: {
          status: order.status,
          completed: paid.includes(order.id),
          messages: messages.get(order.id) ?? [],
        },
      });
    }
    return events;
  });
  if (events.length || products.length) await ctx.events.committed(events, products);
  return out;
}

const channels = ['email', 'sms'] as const;

/** Every column of a notification row, as drizzle's insert named them (attempts 0, no ref, no error). */
const NOTIFICATION_INSERT_COLUMNS =
  '`id`, `order_id`, `channel`, `recipient`, `subject`, `body`, `status`, `attempts`, `dedupe_key`, ' +
  '`provider_ref`, `last_error`, `send_job`, `created_at`, `updated_at`';
const dedupeKey = (orderId: string, status: string, channel: string) => `${orderId}:${status}:${channel}`;

/**
 * Records the outcome messages of final orders; returns the messages still queued per order. `completedNow`
 * are the orders this transaction moved from paid to completed: their messages cannot exist yet (a
 * `completed` message is written only here, in the transaction that completes the order, and we hold
 * its row lock), so the ids inserted are the ids queued and need no read back. Only the other final
 * orders (a retry, or a message written with an earlier transition) are read back.
 */
async function recordOutcomes(
  tx: Tx,
  final: LockedWithLines[],
  completedNow: Set<string>,
  now: Date,
  sendJob: string,
): Promise<Map<string, QueuedMessage[]>> {
  const result = new Map<string, QueuedMessage[]>();
  if (final.length === 0) return result;
  const rows: (typeof notifications.$inferInsert)[] = [];
  for (const order of final) {
    if (order.email === null) continue;
    const { subject, text } = outcomeText(
      order.status,
      order.id,
      money(order.totalCents, order.currency),
      order.failureReason,
    );
    const base = {
      orderId: order.id,
      status: 'queued' as const,
      body: text,
      sendJob,
      createdAt: now,
      updatedAt: now,
    };
    rows.push({
      ...base,
      id: newId('ntf'),
      channel: 'email',
      recipient: order.email,
      subject,
      dedupeKey: dedupeKey(order.id, order.status, 'email'),
    });
    // The phone is stored encrypted with the same key the message's recipient is: copied as it is.
    if (order.phoneEnc) {
      rows.push({
        ...base,
        id: newId('ntf'),
        channel: 'sms',
        recipient: order.phoneEnc,
        subject: null,
        dedupeKey: dedupeKey(order.id, order.status, 'sms'),
      });
    }
  }
  if (rows.length === 0) return result;
  // The unique dedupe key turns a second insert into a no-op: a message already recorded keeps its
  // send batch (or none, when a cancel or an expiry recorded it), and is sent by that batch's job.
  // Lower case, as drizzle's insert wrote it: the error a failed write throws names the statement.
  const params: unknown[] = [];
  for (const r of rows)
    params.push(
      r.id,
      r.orderId,
      r.channel,
      r.recipient,
      r.subject,
      r.body,
      r.status,
      0,
      r.dedupeKey,
      null,
      null,
      r.sendJob,
      r.createdAt,
      r.updatedAt,
    );
  await write(
    tx,
    `insert into \`notifications\` (${NOTIFICATION_INSERT_COLUMNS}) values ${valueRows(rows.length, 14)} ` +
      'on duplicate key update `dedupe_key` = dedupe_key',
    params,
  );
  for (const row of rows) {
    if (!row.orderId || !completedNow.has(row.orderId)) continue;
    const list = result.get(row.orderId) ?? [];
    list.push({ id: row.id, sendJob });
    result.set(row.orderId, list);
  }
  const earlier = final.filter((o) => !completedNow.has(o.id));
  if (earlier.length === 0) return result;
  const keys = earlier.flatMap((o) => channels.map((c) => dedupeKey(o.id, o.status, c)));
  const queued = await tx
    .select({ id: notifications.id, orderId: notifications.orderId, sendJob: notifications.sendJob })
    .from(notifications)
    .where(and(inArray(notifications.dedupeKey, keys), eq(notifications.status, 'queued')));
  for (const q of queued) {
    if (!q.orderId) continue;
    const list = result.get(q.orderId) ?? [];
    list.push({ id: q.id, sendJob: q.sendJob });
    result.set(q.orderId, list);
  }
  return result;
}
