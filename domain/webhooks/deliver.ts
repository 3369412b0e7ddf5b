import type { Span } from '@opentelemetry/api';
import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';
import { caseWhen, write } from '../../db/raw';
import { newId } from '../../lib/ids';
import {
  contextFromTraceParent,
  contextWith,
  failSpan,
  failSpanAs,
  SpanKind,
  startSpan,
  tracingOn,
} from '../../lib/tracing';
import { type EventRow, publicEventId, type RenderEvents } from '../outbox/types';
import { decryptPii } from '../users/pii';
import { checkedTarget, checkUrlShape, type Guard, type ResolvedAddress, TargetRefused } from './addresses';
import { postPinned } from './http-post';
import { failingWindowMs, type RetryPolicy, retryDelayMs } from './schedule';
import { WebhookSigner } from './signer';

export interface DeliverySettings {
  key: Uint8Array<ArrayBuffer>;
  guard: Guard;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Renders events as GET /events shows them (the bodies sent). */
  render: RenderEvents;
  /** Sends in flight to one endpoint at most (WEBHOOK_ENDPOINT_CONCURRENCY). */
  concurrency: number;
  /** Due deliveries read, rendered and recorded together. */
  batchSize: number;
  /** After this long the job stops taking batches (the dispatcher adds it again if more are due). */
  budgetMs: number;
  /** Extra trusted certificate authorities (PEM): a test's own, for a receiver on https. */
  ca?: string;
  /**
   * True once the process is stopping: the job takes no further batch. The batch in flight is sent
   * and recorded; what is left stays owed, for the dispatcher to hand to another process. Without it,
   * a job could run past the shutdown deadline and be handed back with sends made but not recorded,
   * to be made again.
   */
  stopping?: () => boolean;
}

/** What one endpoint's job did. */
export interface EndpointReport {
  batches: number;
  /** Deliveries whose attempt was recorded: sent, refused by the guard, or past retention. */
  succeeded: number;
  failed: number;
  /** Why it stopped while deliveries may still be due (absent: none was due any more). */
  stopped?: 'endpoint deleted' | 'endpoint disabled' | 'refused' | 'round failed' | 'budget' | 'shutdown';
  /** The reason, when a failure of this job disabled the endpoint. */
  disabled?: string;
}

interface Endpoint {
  url: string;
  secretEnc: string;
  status: string;
  failingSince: Date | null;
  /** The subscribed event types, comma-separated, or `*`. */
  events: string;
  createdAt: Date;
  /** Its place in the outbox: events up to this `seq` have been attempted once (or were not for it). */
  afterSeq: number;
}

/** A due delivery and its event (null when the event is past retention). */
interface Due {
  id: string;
  attempts: number;
  event: EventRow | null;
  /** The event's stored traceparent (read only with tracing on; null when it was off at the write). */
  traceParent: string | null;
}

/** One attempt's result, to be recorded. */
interface Outcome {
  id: string;
  /** Attempts made before this one: the record applies only if the row still says so. */
  made: number;
  ok: boolean;
  code?: number;
  error?: string;
  /** Whether another attempt is owed when this one failed (false: no retry, e.g. no event to send). */
  retry: boolean;
}

/** An event's columns as a batch reads them (`p`: the table's alias and a dot, or none); with tracing on, its traceparent too. */
const eventColumns = (p: string, traced: boolean) =>
  `${p}\`id\` AS \`eventId\`, ${p}\`seq\`, ${p}\`type\`, ${p}\`order_id\` AS \`orderId\`, ` +
  `${p}\`refund_id\` AS \`refundId\`, ${p}\`created_at\` AS \`createdAt\`` +
  (traced ? `, ${p}\`trace_parent\` AS \`traceParent\`` : '');

/** An event as `eventColumns` reads it. */
interface EventColumns {
  eventId: number;
  seq: number;
  type: string;
  orderId: string;
  refundId: string | null;
  createdAt: Date;
  traceParent?: string | null;
}

const eventOf = (r: EventColumns): EventRow => ({
  id: Number(r.eventId),
  seq: Number(r.seq),
  type: r.type,
  orderId: r.orderId,
  refundId: r.refundId,
  createdAt: r.createdAt,
});

/** The due deliveries with their events (none when past retention: the LEFT JOIN finds no row). */
const dueSql = (traced: boolean) =>
  `SELECT d.\`id\`, d.\`attempts\`, ${eventColumns('ev.', traced)} ` +
  'FROM `webhook_deliveries` d LEFT JOIN `events` ev ON ev.`id` = d.`event_id` ' +
  "WHERE d.`status` = 'pending' AND d.`endpoint_id` = ? AND d.`next_attempt_at` <= ? " +
  'ORDER BY d.`next_attempt_at` LIMIT ?';
const DUE_SQL = dueSql(false);
const DUE_SQL_TRACED = dueSql(true);

type DueRow = { id: string; attempts: number } & (EventColumns | { [K in keyof EventColumns]: null });

/** Through the pool, not `select`: drizzle's session hands datetimes back as text, the pool as Dates. */
async function dueDeliveries(db: Db, endpointId: string, now: Date, limit: number): Promise<Due[]> {
  const [rows] = await db.$client.query<(DueRow & RowDataPacket)[]>(tracingOn() ? DUE_SQL_TRACED : DUE_SQL, [
    endpointId,
    now,
    limit,
  ]);
  return rows.map((r) => ({
    id: r.id,
    attempts: Number(r.attempts),
    traceParent: r.traceParent ?? null,
    event: r.eventId !== null ? eventOf(r) : null,
  }));
}

/** The events past an endpoint's place in the outbox, in commit order. */
const freshSql = (traced: boolean) =>
  `SELECT ${eventColumns('', traced)} FROM \`events\` WHERE \`seq\` > ? ORDER BY \`seq\` LIMIT ?`;
const FRESH_SQL = freshSql(false);
const FRESH_SQL_TRACED = freshSql(true);

/**
 * The next events for an endpoint: up to `limit` past its place, those it subscribes to and that
 * happened once it existed becoming deliveries never attempted (their ids made here; their rows are
 * written with the first attempt's outcome), and the `seq` its place moves to once they are.
 */
async function freshDeliveries(
  db: Db,
  ep: Endpoint,
  limit: number,
): Promise<{ due: Due[]; lastSeq: number } | undefined> {
  const [rows] = await db.$client.query<(EventColumns & RowDataPacket)[]>(
    tracingOn() ? FRESH_SQL_TRACED : FRESH_SQL,
    [ep.afterSeq, limit],
  );
  const last = rows.at(-1);
  if (!last) return undefined;
  const types = ep.events === '*' ? undefined : new Set(ep.events.split(','));
  const since = ep.createdAt.getTime();
  const due: Due[] = [];
  for (const r of rows) {
    if (types && !types.has(r.type)) continue;
    if (r.createdAt.getTime() < since) continue;
    due.push({
      id: newId('whd'),
      attempts: 0,
      traceParent: r.traceParent ?? null,
      event: eventOf(r),
    });
  }
  return { due, lastSeq: Number(last.seq) };
}

/**
 * Everything one endpoint is owed, in batches: the endpoint read once; per batch, either the events
 * past its place in the outbox (new ones first: their delivery rows are written with the first
 * attempt, so a delivery that succeeds at once is one row written once) or its due deliveries (oldest
 * due first) with their events, each in one statement; the SSRF guard once (every send of the batch
 * connects to the address it checked), the bodies rendered in one call, at most `concurrency` sends
 * in flight over kept-alive connections, and the outcomes recorded in one statement (with the place
 * moved, for new events). No transaction is open while requests run. Stops when nothing is owed, when
 * the time budget is spent, when the process is stopping, or when a whole round of sends failed (a
 * dead endpoint holds its worker slot for one timeout, not for its whole backlog: the rest stay owed
 * and are tried on a later pass).
 */
export async function deliverEndpoint(
  db: Db,
  s: DeliverySettings,
  endpointId: string,
): Promise<EndpointReport> {
  const started = Date.now();
  const report: EndpointReport = { batches: 0, succeeded: 0, failed: 0 };
  const [[ep]] = await db.$client.query<(Endpoint & RowDataPacket)[]>(
    'SELECT `url`, `secret_enc` AS `secretEnc`, `status`, `failing_since` AS `failingSince`, `events`, ' +
      '`created_at` AS `createdAt`, `after_seq` AS `afterSeq` FROM `webhook_endpoints` WHERE `id` = ?',
    [endpointId],
  );
  // Deleting an endpoint deletes its deliveries with it: nothing is owed.
  if (!ep) return { ...report, stopped: 'endpoint deleted' };
  let signer: WebhookSigner | undefined;
  let retryTurn = false;
  for (;;) {
    if (s.stopping?.()) {
      report.stopped = 'shutdown';
      break;
    }
    const now = new Date();
    if (ep.status !== 'enabled') {
      // No attempt is made for a disabled endpoint: what is due now ends failed, in one statement.
      const res = await write(
        db,
        "UPDATE `webhook_deliveries` SET `status` = 'failed', `last_error` = 'endpoint disabled', " +
          "`next_attempt_at` = NULL, `updated_at` = ? WHERE `status` = 'pending' AND `endpoint_id` = ? " +
          'AND `next_attempt_at` <= ?',
        [now, endpointId, now],
      );
      report.failed += res.affectedRows;
      report.stopped = 'endpoint disabled';
      break;
    }
    // An endpoint in a failing spell is probed with one round's worth before a whole batch is read.
    const size = ep.failingSince ? s.concurrency : s.batchSize;
    // New events and retries come due take turns, a batch each, so neither starves the other while
    // events keep coming (new events' deliveries are written with their first attempt).
    const fresh: Awaited<ReturnType<typeof freshDeliveries>> = retryTurn
      ? undefined
      : await freshDeliveries(db, ep, size);
    if (fresh && fresh.due.length === 0) {
      // None of them for this endpoint: its place moves past them, nothing is sent.
      await movePlace(db, endpointId, ep, fresh.lastSeq);
      if (Date.now() - started >= s.budgetMs) {
        report.stopped = 'budget';
        break;
      }
      continue;
    }
    const due = fresh ? fresh.due : await dueDeliveries(db, endpointId, now, size);
    if (due.length === 0) {
      if (!retryTurn) break;
      // No retry due: new events have the turn again (none: the loop ends with the next read).
      retryTurn = false;
      continue;
    }
    retryTurn = fresh !== undefined;
    report.batches++;
    signer ??= new WebhookSigner(await decryptPii(s.key, ep.secretEnc));
    // With tracing on, the batch is a span (under the job's) linked to each delivery's span.
    const batch = startSpan('webhook batch', { 'webhook.endpoint.id': endpointId, 'batch.size': due.length });
    let round: Awaited<ReturnType<typeof sendBatch>>;
    try {
      round = await sendBatch(s, ep, signer, due, started, batch && { batch, endpointId });
      if (fresh) await recordFirstAttempts(db, s.retry, endpointId, ep, due, round.outcomes, fresh.lastSeq);
      else await recordOutcomes(db, s.retry, round.outcomes);
    } catch (err) {
      if (batch) failSpan(batch, err);
      throw err;
    } finally {
      batch?.end();
    }
    const ok = round.outcomes.filter((o) => o.ok).length;
    report.succeeded += ok;
    report.failed += round.outcomes.length - ok;
    // The endpoint's own failures (not an event past retention) count towards disabling it.
    const lastError = round.outcomes.findLast((o) => !o.ok && o.retry)?.error;
    if (ok > 0 && ep.failingSince) {
      // A success ends the endpoint's failing spell (once per batch, whatever else failed in it).
      await write(db, 'UPDATE `webhook_endpoints` SET `failing_since` = NULL WHERE `id` = ?', [endpointId]);
      ep.failingSince = null;
    } else if (ok === 0 && lastError !== undefined) {
      const disabled = await noteFailure(db, endpointId, ep, new Date(), s.retry, lastError);
      if (disabled) report.disabled = disabled;
    }
    if (round.stopped) {
      report.stopped = round.stopped;
      break;
    }
    if (ok === 0 && lastError !== undefined) {
      // Not one success in the batch: the endpoint is down or refusing; a later pass tries again.
      report.stopped = 'round failed';
      break;
    }
    if (Date.now() - started >= s.budgetMs) {
      report.stopped = 'budget';
      break;
    }
  }
  return report;
}

/** The batch's span and what its delivery spans say, when tracing is on. */
interface BatchTrace {
  batch: Span;
  endpointId: string;
}

/**
 * A delivery's span (`webhook deliver`, CLIENT): a child of the span that made its event (the stored
 * traceparent), so it sits in that order's trace; the batch links to it. An event written with tracing
 * off has no traceparent: its delivery is a child of the batch's span instead. The attributes name
 * the order, event, endpoint and attempt: never the URL, the secret, the signature or the body.
 */
function deliverySpan(t: BatchTrace, d: Due & { event: EventRow }): Span | undefined {
  const stored = d.traceParent ? contextFromTraceParent(d.traceParent) : undefined;
  const span = startSpan(
    'webhook deliver',
    {
      'order.id': d.event.orderId,
      'webhook.event.id': publicEventId(d.event.id),
      'webhook.event.type': d.event.type,
      'webhook.endpoint.id': t.endpointId,
      'webhook.delivery.id': d.id,
      'webhook.delivery.attempt': d.attempts + 1,
    },
    { kind: SpanKind.CLIENT, parent: stored ?? contextWith(t.batch) },
  );
  if (span && stored && span.isRecording()) t.batch.addLink({ context: span.spanContext() });
  return span;
}

/** Ends a delivery's span with the answer's status code, or the error's type (never its text). */
function endDelivery(span: Span, r: { status?: number; errorType?: string }): void {
  if (r.status !== undefined) span.setAttribute('http.response.status_code', r.status);
  if (r.errorType !== undefined) failSpanAs(span, r.errorType);
  span.end();
}

/**
 * Sends the batch's deliveries: the guard checked once for the batch, then at most `concurrency`
 * sends in flight. Stops taking new sends after `concurrency` failures in a row (a whole round) or
 * once the time budget is spent; deliveries not sent get no outcome and stay owed (a new event's is
 * written pending and due now).
 */
async function sendBatch(
  s: DeliverySettings,
  ep: Endpoint,
  signer: WebhookSigner,
  due: Due[],
  started: number,
  traced?: BatchTrace,
): Promise<{ outcomes: Outcome[]; stopped?: 'refused' | 'round failed' | 'budget' }> {
  const outcomes: Outcome[] = [];
  const sendable: (Due & { event: EventRow })[] = [];
  for (const d of due) {
    if (d.event) sendable.push({ ...d, event: d.event });
    else
      outcomes.push({ id: d.id, made: d.attempts, ok: false, error: 'event past retention', retry: false });
  }
  if (sendable.length === 0) return { outcomes };
  let url: URL;
  let pinned: ResolvedAddress;
  try {
    // The guard again at every batch, after resolving: the name may point elsewhere since it was saved.
    url = checkUrlShape(ep.url, s.guard.allowPrivate);
    pinned = await checkedTarget(url, s.guard);
  } catch (err) {
    if (!(err instanceof TargetRefused)) throw err;
    const error = `refused: ${err.message}`;
    for (const d of sendable) {
      outcomes.push({ id: d.id, made: d.attempts, ok: false, error, retry: true });
      // The order's trace tells why no request was made.
      if (traced) {
        const span = deliverySpan(traced, d);
        if (span) endDelivery(span, { errorType: 'target_refused' });
      }
    }
    return { outcomes, stopped: 'refused' };
  }
  const views = await s.render(sendable.map((d) => d.event));
  let next = 0;
  let failedInARow = 0;
  let stopped: 'round failed' | 'budget' | undefined;
  const lane = async () => {
    while (!stopped && next < sendable.length) {
      if (Date.now() - started >= s.budgetMs) {
        stopped = 'budget';
        break;
      }
      const i = next++;
      const d = sendable[i] as (typeof sendable)[number];
      const body = JSON.stringify(views[i]);
      const id = String(views[i]?.id);
      const at = new Date();
      const headers = {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signer.sign(id, at, body),
        'user-agent': 'Orderflow-Webhooks/1',
      };
      const span = traced && deliverySpan(traced, d);
      const r = await postPinned(url, pinned, headers, body, s.timeoutMs, { ca: s.ca });
      if (span) endDelivery(span, r);
      const ok = r.status !== undefined && !r.error;
      outcomes.push({
        id: d.id,
        made: d.attempts,
        ok,
        ...(r.status !== undefined ? { code: r.status } : {}),
        ...(ok ? {} : { error: r.error ?? 'failed' }),
        retry: true,
      });
      failedInARow = ok ? 0 : failedInARow + 1;
      if (failedInARow >= s.concurrency) stopped ??= 'round failed';
    }
  };
  await Promise.all(Array.from({ length: Math.min(s.concurrency, sendable.length) }, lane));
  return stopped ? { outcomes, stopped } : { outcomes };
}

/**
 * New events' deliveries written once, with their first attempt's outcome (succeeded; pending with
 * its retry's time; failed when no retry is owed), or pending and due now for those the batch did
 * not get to send; and the endpoint's place moved past the batch, in the same transaction, so an
 * event is either behind the place with its row written or ahead of it and read again. A worker that
 * dies after sending and before this commits sends those events again on the next pass (webhooks are
 * at least once; receivers dedupe by `webhook-id`). `INSERT IGNORE`: a second job that sent the same
 * event (Redis lost the first one's lock) leaves the first row as it is.
 */
async function recordFirstAttempts(
  db: Db,
  retry: RetryPolicy,
  endpointId: string,
  ep: Endpoint,
  due: Due[],
  outcomes: Outcome[],
  lastSeq: number,
): Promise<void> {
  const now = new Date();
  const byId = new Map(outcomes.map((o) => [o.id, o]));
  const params: unknown[] = [];
  for (const d of due) {
    const event = d.event as EventRow;
    const o = byId.get(d.id);
    if (!o) {
      params.push(d.id, endpointId, event.id, event.type, 'pending', 0, null, null, now, now);
      continue;
    }
    const delay = o.ok || !o.retry ? undefined : retryDelayMs(retry, 1);
    const status = o.ok ? 'succeeded' : delay === undefined ? 'failed' : 'pending';
    const next = delay === undefined ? null : new Date(now.getTime() + delay);
    const error = o.error?.slice(0, 255) ?? null;
    params.push(d.id, endpointId, event.id, event.type, status, 1, o.code ?? null, error, next, now);
  }
  await db.transaction(async (tx) => {
    await write(
      tx,
      'INSERT IGNORE INTO `webhook_deliveries` (`id`, `endpoint_id`, `event_id`, `event_type`, `status`, ' +
        '`attempts`, `last_status_code`, `last_error`, `next_attempt_at`, `created_at`, `updated_at`) VALUES ' +
        FIRST_ROW +
        `, ${FIRST_ROW}`.repeat(due.length - 1),
      params,
    );
    await write(tx, PLACE_SQL, [lastSeq, endpointId]);
  });
  ep.afterSeq = Math.max(ep.afterSeq, lastSeq);
}

/** One delivery row: ten values, its `updated_at` repeating its `created_at` (a VALUES list may name a column set earlier in it). */
const FIRST_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `created_at`)';

const PLACE_SQL = 'UPDATE `webhook_endpoints` SET `after_seq` = GREATEST(`after_seq`, ?) WHERE `id` = ?';

/** Moves an endpoint's place past events that were none of its business. */
async function movePlace(db: Db, endpointId: string, ep: Endpoint, lastSeq: number): Promise<void> {
  await write(db, PLACE_SQL, [lastSeq, endpointId]);
  ep.afterSeq = Math.max(ep.afterSeq, lastSeq);
}

/**
 * A batch's outcomes, in as few statements as there are kinds of them: the successes (most of a
 * batch) in one plain UPDATE per status code, the failures in one UPDATE that sets each row's error
 * and next attempt by CASE on its id (a CASE per column costs the server a branch per row for every
 * row: fine for the few failures, quadratic for a batch). A row is only written if its `attempts` is
 * still what was read (`(id, attempts) IN (…)`), so a second job sending the same delivery (Redis
 * lost the first one's lock) never counts an attempt twice.
 */
async function recordOutcomes(db: Db, retry: RetryPolicy, outcomes: Outcome[]): Promise<void> {
  const now = new Date();
  const byCode = new Map<number | null, Outcome[]>();
  const failed: Outcome[] = [];
  for (const o of outcomes) {
    if (!o.ok) failed.push(o);
    else {
      const same = byCode.get(o.code ?? null);
      if (same) same.push(o);
      else byCode.set(o.code ?? null, [o]);
    }
  }
  for (const [code, done] of byCode) {
    await write(
      db,
      "UPDATE `webhook_deliveries` SET `status` = 'succeeded', `last_status_code` = ?, `last_error` = NULL, " +
        `\`next_attempt_at\` = NULL, \`updated_at\` = ?, \`attempts\` = \`attempts\` + 1 WHERE ${attemptsStill(done)}`,
      [code, now, ...done.flatMap((o) => [o.id, o.made])],
    );
  }
  if (failed.length === 0) return;
  const status: [string, string][] = [];
  const code: [string, number | null][] = [];
  const error: [string, string | null][] = [];
  const next: [string, Date | null][] = [];
  for (const o of failed) {
    const delay = o.retry ? retryDelayMs(retry, o.made + 1) : undefined;
    const at = delay === undefined ? null : new Date(now.getTime() + delay);
    status.push([o.id, at ? 'pending' : 'failed']);
    code.push([o.id, o.code ?? null]);
    error.push([o.id, o.error ? o.error.slice(0, 255) : null]);
    next.push([o.id, at]);
  }
  const params: unknown[] = [];
  const set =
    `\`status\` = ${caseWhen('`id`', status, params)}, ` +
    `\`last_status_code\` = ${caseWhen('`id`', code, params)}, ` +
    `\`last_error\` = ${caseWhen('`id`', error, params)}, ` +
    `\`next_attempt_at\` = ${caseWhen('`id`', next, params)}, ` +
    '`updated_at` = ?, `attempts` = `attempts` + 1';
  params.push(now);
  for (const o of failed) params.push(o.id, o.made);
  await write(db, `UPDATE \`webhook_deliveries\` SET ${set} WHERE ${attemptsStill(failed)}`, params);
}

/** `(id, attempts) IN ((?, ?), …)`: the rows still at the attempts read (their values pushed by the caller). */
const attemptsStill = (outcomes: readonly Outcome[]) =>
  `(\`id\`, \`attempts\`) IN ((?, ?)${', (?, ?)'.repeat(outcomes.length - 1)})`;

/**
 * A batch that failed everything starts the endpoint's failing spell (if none is running); an
 * endpoint whose spell has lasted the whole retry window (about three days at the defaults) without
 * one success is disabled, with the reason. Returns the reason when this failure disabled it.
 */
async function noteFailure(
  db: Db,
  endpointId: string,
  ep: Endpoint,
  now: Date,
  retry: RetryPolicy,
  error: string,
): Promise<string | undefined> {
  if (!ep.failingSince) {
    await write(
      db,
      'UPDATE `webhook_endpoints` SET `failing_since` = ? WHERE `id` = ? AND `failing_since` IS NULL',
      [now, endpointId],
    );
    ep.failingSince = now;
    return undefined;
  }
  const window = failingWindowMs(retry);
  if (now.getTime() - ep.failingSince.getTime() < window) return undefined;
  const hours = Math.round(window / 3_600_000);
  const span = hours >= 1 ? `${hours} h` : `${Math.round(window / 1000)} s`;
  const reason = `every delivery failed for ${span}; last error: ${error}`.slice(0, 255);
  const res = await write(
    db,
    "UPDATE `webhook_endpoints` SET `status` = 'disabled', `disabled_reason` = ?, `updated_at` = ? " +
      "WHERE `id` = ? AND `status` = 'enabled'",
    [reason, now, endpointId],
  );
  ep.status = 'disabled';
  return res.affectedRows === 1 ? reason : undefined;
}
