import type { Redis } from 'ioredis';
import type { OrderEvent, OrderEventSink } from '../domain/orders/status';

export const orderEventsChannel = (prefix: string, orderId: string) => `${prefix}:order-events:${orderId}`;

/** Publishes committed status changes on Redis pub/sub; live tracking (SSE) subscribes per order. */
export class RedisOrderEvents implements OrderEventSink {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  publish(e: OrderEvent): void {
    const payload = JSON.stringify({
      from: e.from,
      to: e.to,
      at: e.at.toISOString(),
      ...(e.reason ? { reason: e.reason } : {}),
    });
    // Best effort: the stream is a convenience, MySQL's timeline is the record.
    this.redis.publish(orderEventsChannel(this.prefix, e.orderId), payload).catch(() => {});
  }
}
