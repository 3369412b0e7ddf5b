import type { OrderStatus } from '../../db/schema';

/** Every event type the outbox carries (API.md, "Events and webhooks"). */
export const eventTypes = [
  'order.created',
  'order.reserved',
  'order.review',
  'order.paid',
  'order.completed',
  'order.rejected',
  'order.payment_failed',
  'order.cancelled',
  'order.failed',
  'refund.created',
  'refund.succeeded',
  'refund.failed',
  'dispute.created',
] as const;
export type EventType = (typeof eventTypes)[number];

/** The event an order's move to `to` announces: each status has one, `pending` is the order's creation. */
export const orderEventType = (to: OrderStatus): EventType =>
  to === 'pending' ? 'order.created' : (`order.${to}` as EventType);

/** The status an `order.*` event announces (its `data` is the order in that status). */
export function statusOfEvent(type: string): OrderStatus | undefined {
  if (type === 'order.created') return 'pending';
  return type.startsWith('order.') ? (type.slice('order.'.length) as OrderStatus) : undefined;
}

/** The public id of an event: the outbox row's id, prefixed (also the webhook's `webhook-id`). */
export const publicEventId = (id: number): string => `evt_${id}`;

export function eventRowId(publicId: string): number | undefined {
  const m = /^evt_([1-9][0-9]{0,17})$/.exec(publicId);
  return m ? Number(m[1]) : undefined;
}

/** An outbox row as readers get it. */
export interface EventRow {
  id: number;
  seq: number;
  type: string;
  orderId: string;
  refundId: string | null;
  createdAt: Date;
}

/** An event as `GET /events` and a webhook delivery show it. */
export interface EventView {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

/** The outbox columns a reader selects, under `EventRow`'s names. */
export const EVENT_COLUMNS =
  '`id`, `seq`, `type`, `order_id` AS `orderId`, `refund_id` AS `refundId`, `created_at` AS `createdAt`';

/** Renders events' `data` (the order's owner, domain/orders/event-data.ts, knows how): a port for webhooks. */
export type RenderEvents = (rows: readonly EventRow[]) => Promise<EventView[]>;
