import type { OrderStatus } from '../../db/schema';

export type { OrderStatus };

export const finalStatuses: ReadonlySet<OrderStatus> = new Set([
  'completed',
  'rejected',
  'payment_failed',
  'cancelled',
  'failed',
]);

export const isFinal = (s: OrderStatus) => finalStatuses.has(s);

/** The only moves the state machine allows; every transition is checked against this table. */
export const allowedTransitions: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ['reserved', 'rejected', 'cancelled', 'failed'],
  reserved: ['paid', 'payment_failed', 'cancelled', 'failed'],
  paid: ['completed', 'cancelled', 'failed'],
  completed: [],
  rejected: [],
  payment_failed: [],
  cancelled: [],
  failed: [],
};

/** A status change as the timeline and the live stream show it. */
export interface OrderEvent {
  orderId: string;
  from: OrderStatus | null;
  to: OrderStatus;
  at: Date;
  reason?: string;
}

/** Where committed status changes go (Redis pub/sub for live tracking); domain code knows only this port. */
export interface OrderEventSink {
  publish(event: OrderEvent): void;
}

export const noEvents: OrderEventSink = { publish() {} };
