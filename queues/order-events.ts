import type { Redis } from 'ioredis';
import type { OrderEvent, OrderEventSink } from '../domain/orders/status';
import { invalidate } from '../lib/cache';

export const orderEventsChannel = (prefix: string, orderId: string) => `${prefix}:order-events:${orderId}`;

/**
 * After a commit: cached reads of the orders and stock that changed go stale, then the change is
 * published on Redis pub/sub for live tracking (SSE subscribes per order).
 */
export class RedisOrderEvents implements OrderEventSink {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async committed(events: OrderEvent[], stockChangedFor: string[]): Promise<void> {
    try {
      // A new order (from: null) has nothing cached to invalidate.
      const changed = new Set(events.filter((e) => e.from !== null).map((e) => e.orderId));
      await invalidate(this.redis, this.prefix, 'order', changed);
      await invalidate(this.redis, this.prefix, 'inventory', stockChangedFor);
      await Promise.all(
        events.map((e) =>
          this.redis.publish(
            orderEventsChannel(this.prefix, e.orderId),
            JSON.stringify({
              from: e.from,
              to: e.to,
              at: e.at.toISOString(),
              ...(e.reason ? { reason: e.reason } : {}),
            }),
          ),
        ),
      );
    } catch {
      // Best effort: MySQL's timeline is the record, cached entries expire, and streams re-read it.
    }
  }
}
