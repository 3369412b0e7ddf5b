import { duplicateForSubscribe, type RedisClient } from '../queues/connection';
import { orderEventsChannel } from '../queues/order-events';

type Listener = () => void;

/**
 * One Redis subscriber per API process, fanned out to every open order stream: a stream costs a
 * Set entry, not a connection. Messages are only a wake-up call; the stream reads the timeline
 * from MySQL, so a message lost by pub/sub (which keeps nothing) delays an update, never loses it.
 */
export class OrderEventHub {
  private subscriber: RedisClient | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async subscribe(orderId: string, listener: Listener): Promise<() => Promise<void>> {
    const channel = orderEventsChannel(this.prefix, orderId);
    const sub = this.connection();
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await sub.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      current?.delete(listener);
      if (current && current.size === 0) {
        this.listeners.delete(channel);
        await sub.unsubscribe(channel).catch(() => {});
      }
    };
  }

  close(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private connection(): RedisClient {
    if (!this.subscriber) {
      const sub = duplicateForSubscribe(this.redis);
      sub.on('error', () => {});
      sub.on('message', (channel: string) => {
        for (const l of this.listeners.get(channel) ?? []) l();
      });
      this.subscriber = sub;
    }
    return this.subscriber;
  }
}
