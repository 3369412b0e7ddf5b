import { type OrderStatus, orderStatuses } from '../../db/schema';
import type { Actor } from '../actor';

export { type OrderStatus, orderStatuses };

export const finalStatuses: ReadonlySet<OrderStatus> = new Set([
  'completed',
  'rejected',
  'payment_failed',
  'cancelled',
  'failed',
]);

export const isFinal = (s: OrderStatus) => finalStatuses.has(s);

/**
 * The only moves the state machine allows; every transition is checked against this table. A final
 * status has no way out: the order cache relies on it (it keeps final orders only, uninvalidated).
 */
export const allowedTransitions: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ['reserved', 'rejected', 'cancelled', 'failed'],
  // Screening before the charge may park the order for an admin (`review`) or reject it.
  reserved: ['paid', 'payment_failed', 'review', 'rejected', 'cancelled', 'failed'],
  // An admin's approval puts it back to `reserved` for its capture; rejection, expiry or cancel end it,
  // and so does a declined authorization.
  review: ['reserved', 'rejected', 'cancelled', 'failed', 'payment_failed'],
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
  /** Who caused it (absent where the writer did not say: the system's own steps). */
  actor?: Actor;
}

/**
 * What happens after a transaction that changed orders or stock commits: live tracking hears of it
 * and cached reads of what changed go stale. Domain code knows only this port; it never fails a
 * committed change (implementations swallow their own errors).
 */
export interface OrderEventSink {
  committed(events: OrderEvent[], stockChangedFor: string[]): Promise<void>;
}
