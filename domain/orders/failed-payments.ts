import { inArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { orders } from '../../db/schema';
import type { RiskCounters } from '../fraud/counters';
import type { OrderEvent, OrderEventSink } from './status';

/**
 * Feeds screening's "failed payments" counter from the committed transitions, so the charge step
 * needs no fraud code of its own: after a commit that declined payments, their owners' counters go
 * up (one read by primary key for the owners). Best effort, like every sink: a lost count only
 * weakens one signal for a day.
 */
export class FailedPaymentSignals implements OrderEventSink {
  constructor(
    private readonly inner: OrderEventSink,
    private readonly db: Db,
    private readonly counters: RiskCounters,
  ) {}

  async committed(events: OrderEvent[], stockChangedFor: string[]): Promise<void> {
    await this.inner.committed(events, stockChangedFor);
    const failed = events.filter((e) => e.to === 'payment_failed');
    if (failed.length === 0) return;
    try {
      const owners = await this.db
        .select({ id: orders.id, userId: orders.userId })
        .from(orders)
        .where(
          inArray(
            orders.id,
            failed.map((e) => e.orderId),
          ),
        );
      const at = new Map(failed.map((e) => [e.orderId, e.at.getTime()]));
      await Promise.all(
        owners.map((o) => this.counters.recordFailedPayment(o.userId, o.id, at.get(o.id) ?? Date.now())),
      );
    } catch {
      // The order's outcome is committed and told; this counter is a hint, not a record.
    }
  }
}
