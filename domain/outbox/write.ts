import type { Tx } from '../../db/client';
import { valueRows, write } from '../../db/raw';
import type { OrderStatus } from '../../db/schema';
import { tracingOn } from '../../lib/tracing';
import { type EventType, orderEventType } from './types';

/**
 * Writes events into the outbox, inside the caller's transaction: an event is committed with the
 * change it announces or not at all. One multi-row INSERT for any number of events, so a batch of
 * orders pays one statement, never one per order. The row is narrow (type, order, refund, time): the
 * event's `data` is rendered when read (domain/orders/event-data.ts).
 */
export interface NewEvent {
  type: EventType;
  orderId: string;
  refundId?: string;
  /** The change's own time: an order event's equals its timeline row's `at` (the renderer finds it by it). */
  at: Date;
  /**
   * The W3C `traceparent` of the span that made the change (lib/tracing.ts `itemTraceParent` /
   * `activeTraceParent`): the event's webhook deliveries are spans of that trace. Undefined when
   * tracing is off (the column stays NULL).
   */
  traceParent?: string | undefined;
}

const INSERT = 'INSERT INTO `events` (`type`, `order_id`, `refund_id`, `created_at`) VALUES ';
const INSERT_TRACED =
  'INSERT INTO `events` (`type`, `order_id`, `refund_id`, `created_at`, `trace_parent`) VALUES ';

export async function recordEvents(tx: Tx, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const { sql, params } = eventsStatement(events);
  await write(tx, sql, params);
}

/**
 * The same INSERT as a statement, for a caller that sends its transaction in one round trip. With
 * tracing off it is the statement it always was (no `trace_parent` column named, no parameter added).
 */
export function eventsStatement(events: readonly NewEvent[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  if (!tracingOn()) {
    for (const e of events) params.push(e.type, e.orderId, e.refundId ?? null, e.at);
    return { sql: INSERT + valueRows(events.length, 4), params };
  }
  for (const e of events) params.push(e.type, e.orderId, e.refundId ?? null, e.at, e.traceParent ?? null);
  return { sql: INSERT_TRACED + valueRows(events.length, 5), params };
}

/** The events of order status changes: one per change. */
export const orderChanges = (
  changes: readonly { orderId: string; to: OrderStatus; at: Date; traceParent?: string | undefined }[],
): NewEvent[] =>
  changes.map((c) => ({
    type: orderEventType(c.to),
    orderId: c.orderId,
    at: c.at,
    traceParent: c.traceParent,
  }));
