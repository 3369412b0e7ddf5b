import { inArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { refunds } from '../../db/schema';
import { type EventRow, type EventView, publicEventId, statusOfEvent } from '../outbox/types';
import { type OrderView, orderViews } from './read';
import { type RefundView, refundViews } from './refunds/view';
import { finalStatuses } from './status';

/**
 * Renders events' `data` when they are read rather than storing a snapshot with each: the order path
 * writes a few short columns per event instead of building and storing a JSON document per order
 * and step (it has neither the lines nor the timeline at hand in a batch). An order event's data is
 * the order as GET showed it when the event happened: its current row and lines, with the status,
 * `updatedAt`, `failureReason` and timeline of that moment (the timeline up to the row this event
 * was written with: same order, status and time). What is not kept by moment (risk, refunds) is
 * shown as it is now, risk only once the order had been screened.
 */
export async function renderEvents(db: Db, rows: readonly EventRow[]): Promise<EventView[]> {
  const ids = [...new Set(rows.map((r) => r.orderId))];
  const views = new Map((await orderViews(db, ids)).map((v) => [v.id, v]));
  const refundIds = [...new Set(rows.flatMap((r) => (r.refundId ? [r.refundId] : [])))];
  const refundRows = refundIds.length
    ? await db.select().from(refunds).where(inArray(refunds.id, refundIds))
    : [];
  const refundById = new Map((await refundViews(db, refundRows)).map((v) => [v.id, v]));
  return rows.map((r) => ({
    id: publicEventId(r.id),
    type: r.type,
    createdAt: r.createdAt.toISOString(),
    data: dataOf(r, views.get(r.orderId), refundById),
  }));
}

function dataOf(
  row: EventRow,
  view: OrderView | undefined,
  refunds: Map<string, RefundView>,
): Record<string, unknown> {
  // A refund's events show the refund (with its orderId) as it is now: its status moves one way only.
  if (row.refundId) return { ...(refunds.get(row.refundId) ?? { id: row.refundId, orderId: row.orderId }) };
  const status = statusOfEvent(row.type);
  // A dispute shows the order as it is now (disputed: true).
  if (!status) return view ? { ...view } : { id: row.orderId };
  if (!view) return { id: row.orderId, status };
  return { ...orderAt(view, status, row.createdAt) };
}

/** The order as it was right after its move to `status` at `at`. */
export function orderAt(view: OrderView, status: OrderView['status'], at: Date): OrderView {
  const iso = at.toISOString();
  const timeline = view.events;
  let end = timeline.findIndex((e) => e.to === status && e.at === iso);
  // Never needed for rows written together with their timeline row; an approximation, not a failure.
  if (end < 0) end = timeline.findLastIndex((e) => e.at <= iso);
  const upTo = timeline.slice(0, end + 1);
  const { risk, failureReason: _now, ...rest } = view;
  const reason = upTo.at(-1)?.reason;
  const screened = upTo.some(
    (e) => e.from === 'reserved' && (e.to === 'paid' || e.to === 'review' || finalStatuses.has(e.to)),
  );
  return {
    ...rest,
    status,
    updatedAt: iso,
    events: upTo,
    ...(reason && finalStatuses.has(status) ? { failureReason: reason } : {}),
    ...(risk && screened && status !== 'cancelled' ? { risk } : {}),
  };
}
