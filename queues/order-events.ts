import type { OrderEvent, OrderEventSink } from '../domain/orders/status';
import { bumpGenerations } from '../lib/cache';
import type { RedisClient } from './connection';

export const orderEventsChannel = (prefix: string, orderId: string) => `${prefix}:order-events:${orderId}`;

/**
 * After a commit: cached reads of the orders and stock that changed go stale, then the change is
 * published on Redis pub/sub for live tracking (SSE subscribes per order).
 */
export class RedisOrderEvents implements OrderEventSink {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async committed(
    events: OrderEvent[],
    stockChangedFor: string[],
    ordersChanged: string[] = [],
  ): Promise<void> {
    // One round trip: the invalidations first (in pipeline order), then the news.
    const pipeline = this.redis.pipeline();
    // A new order (from: null) has nothing cached to invalidate.
    bumpGenerations(
      pipeline,
      this.prefix,
      'order',
      new Set([...events.filter((e) => e.from !== null).map((e) => e.orderId), ...ordersChanged]),
    );
    bumpGenerations(pipeline, this.prefix, 'inventory', stockChangedFor);
    for (const e of events) {
      const payload = {
        from: e.from,
        to: e.to,
        at: e.at.toISOString(),
        ...(e.reason ? { reason: e.reason } : {}),
      };
      pipeline.publish(orderEventsChannel(this.prefix, e.orderId), JSON.stringify(payload));
    }
    // Best effort: MySQL's timeline is the record, cached entries expire, and streams re-read it.
    await pipeline.exec().catch(() => {});
  }
}
