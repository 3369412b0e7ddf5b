import type { OrderEvent, OrderEventSink } from '../domain/orders/status';
import { bumpGenerations } from '../lib/cache';
import type { RedisClient } from '../lib/redis';

/**
 * The one channel every order's changes are published on. One PUBLISH per committed batch (not per
 * change, not per order): each API process's hub subscribes while someone there follows an order and
 * hands each change to that order's followers. Classic pub/sub, so in a Redis Cluster a publish on any
 * node reaches the subscribers of every node.
 */
export const orderEventsChannel = (prefix: string) => `${prefix}:order-events`;

/** One change as it travels on the channel. */
export interface WireChange {
  orderId: string;
  from: string | null;
  to: string;
  at: string;
  reason?: string;
}

/** A published message: the changes one commit made, in the order they were made. */
export const encodeChanges = (changes: WireChange[]): string => JSON.stringify(changes);

export const toWire = (e: OrderEvent): WireChange => ({
  orderId: e.orderId,
  from: e.from,
  to: e.to,
  at: e.at.toISOString(),
  ...(e.reason ? { reason: e.reason } : {}),
});

/**
 * After a commit: cached stock reads of the products that moved go stale, then the changes are
 * published for live tracking. Orders need no invalidation: only final orders are cached, and a final
 * order never changes (api/routes/orders/get.ts).
 */
export class RedisOrderEvents implements OrderEventSink {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async committed(events: OrderEvent[], stockChangedFor: string[]): Promise<void> {
    // One round trip: the invalidations first (in pipeline order), then the news.
    const pipeline = this.redis.pipeline();
    bumpGenerations(pipeline, this.prefix, 'inventory', stockChangedFor);
    if (events.length) pipeline.publish(orderEventsChannel(this.prefix), encodeChanges(events.map(toWire)));
    if (pipeline.length === 0) return;
    // Best effort: MySQL's timeline is the record, cached entries expire, and streams re-read it.
    await pipeline.exec().catch(() => {});
  }
}
