import type { Tx } from '../../db/client';
import { valueRows, write } from '../../db/raw';
import type { OrderStatus } from '../../db/schema';
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
}

const INSERT = 'INSERT INTO `events` (`type`, `order_id`, `refund_id`, `created_at`) VALUES ';

export async function recordEvents(tx: Tx, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await write(tx, INSERT + valueRows(events.length, 4), eventParams(events));
}

/** The same INSERT as a statement, for a caller that sends its transaction in one round trip. */
export function eventsStatement(events: readonly NewEvent[]): { sql: string; params: unknown[] } {
  return { sql: INSERT + valueRows(events.length, 4), params: eventParams(events) };
}

function eventParams(events: readonly NewEvent[]): unknown[] {
  const params: unknown[] = [];
  for (const e of events) params.push(e.type, e.orderId, e.refundId ?? null, e.at);
  return params;
}

/** The events of order status changes: one per change. */
export const orderChanges = (
  changes: readonly { orderId: string; to: OrderStatus; at: Date }[],
): NewEvent[] => changes.map((c) => ({ type: orderEventType(c.to), orderId: c.orderId, at: c.at }));
