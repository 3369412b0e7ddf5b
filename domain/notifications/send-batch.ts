import { and, eq } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { select } from '../../db/raw';
import { notifications } from '../../db/schema';
import { itemSpan, SpanKind, tracingOn } from '../../lib/tracing';
import { CircuitOpenError } from '../resilience';
import {
  callProvider,
  type NotificationRow,
  recordFailures,
  recordSentMany,
  type SendFailure,
  sendFailure,
  type Transports,
} from './notifications';

export interface BatchDelivery {
  /** Each message this try handled, with what became of it (for the log lines). */
  messages: { id: string; orderId: string | null; status: 'sent' | 'failed' | 'queued' }[];
  /**
   * Why the try must be repeated: a transient provider error of some message (those messages stay
   * `queued`, the others are recorded). An open circuit's refusal wins over any other error: none of
   * those messages reached the provider, so the retry should not cost an attempt.
   */
  retry?: Error;
}

/** A send batch's messages still queued, every column under `NotificationRow`'s names. */
const READ_BATCH =
  'SELECT `id`, `order_id` AS `orderId`, `channel`, `recipient`, `subject`, `body`, `status`, `attempts`, ' +
  '`dedupe_key` AS `dedupeKey`, `provider_ref` AS `providerRef`, `last_error` AS `lastError`, ' +
  '`send_job` AS `sendJob`, `created_at` AS `createdAt`, `updated_at` AS `updatedAt` ' +
  "FROM `notifications` WHERE (`notifications`.`send_job` = ? AND `notifications`.`status` = 'queued')";

/**
 * Sends every message recorded under one send batch (`notifications.send_job`) that is still queued:
 * one read, every provider call at once (the email transport puts them into few provider requests),
 * then the successes recorded in one statement (the compare-and-set on `queued` per row) and each
 * failure on its own rows. Messages already sent or failed are not read, so a retry of the batch
 * sends only what the try before it did not.
 */
export async function sendBatch(
  db: Db,
  piiKey: Uint8Array<ArrayBuffer>,
  transports: Transports,
  sendJob: string,
): Promise<BatchDelivery> {
  const rows = await select<NotificationRow>(db, READ_BATCH, [sendJob]);
  // Each message's provider call is a span of its order's trace (a send batch serves many orders).
  const answers = await Promise.allSettled(
    rows.map((row) =>
      !tracingOn()
        ? callProvider(piiKey, transports, row)
        : itemSpan(
            row.orderId,
            'deliver',
            { 'order.id': row.orderId ?? '', 'notification.channel': row.channel },
            () => callProvider(piiKey, transports, row),
            SpanKind.CLIENT,
          ),
    ),
  );
  const sent = new Map<string, string>();
  // Failures with the same error (a request that failed as a whole) are recorded with one statement.
  const failures = new Map<string, { failure: SendFailure; ids: string[] }>();
  const messages: BatchDelivery['messages'] = [];
  let retry: Error | undefined;
  answers.forEach((answer, i) => {
    const row = rows[i] as NotificationRow;
    if (answer.status === 'fulfilled') {
      sent.set(row.id, answer.value.providerRef);
      messages.push({ id: row.id, orderId: row.orderId, status: 'sent' });
      return;
    }
    const failure = sendFailure(answer.reason);
    const key = JSON.stringify(failure);
    const same = failures.get(key) ?? { failure, ids: [] };
    same.ids.push(row.id);
    failures.set(key, same);
    messages.push({ id: row.id, orderId: row.orderId, status: failure.permanent ? 'failed' : 'queued' });
    if (!failure.permanent && !(retry instanceof CircuitOpenError)) retry = answer.reason as Error;
  });
  await recordSentMany(db, sent);
  for (const { failure, ids } of failures.values()) await recordFailures(db, ids, failure);
  return retry ? { messages, retry } : { messages };
}

/** The batch's last attempt failed: its messages still queued are marked failed. */
export async function markBatchFailed(db: Db, sendJob: string, message: string): Promise<void> {
  await db
    .update(notifications)
    .set({ status: 'failed', lastError: message.slice(0, 500), updatedAt: new Date() })
    .where(and(eq(notifications.sendJob, sendJob), eq(notifications.status, 'queued')));
}
