import { z } from 'zod';
import { duplicateForSubscribe, type RedisClient } from '../queues/connection';
import { orderEventsChannel } from '../queues/order-events';

/** A change as the publisher sends it (queues/order-events.ts); the order's id is in the channel name. */
const published = z.object({
  from: z.string().nullable(),
  to: z.string(),
  at: z.string(),
  reason: z.string().optional(),
});

export type PublishedChange = z.infer<typeof published> & { orderId: string };

/** What one order's follower hears: a change was published, or the hub's health changed. */
export type Wake = (why: 'event' | 'health') => void;

/** One follower's hold on an order's channel. */
export interface Following {
  /** True while the channel is confirmed subscribed on a connected subscriber: a change will wake us. */
  healthy(): boolean;
  /** Counts the channel's confirmed subscriptions: it changes when pub/sub may have missed messages. */
  generation(): number;
  /** Resolves when `healthy()` is true, or after `ms` (whichever first). */
  ready(ms: number): Promise<void>;
  close(): void;
}

interface Channel {
  wakes: Set<Wake>;
  confirmed: boolean;
  generation: number;
  waiters: Set<() => void>;
}

/**
 * One Redis subscriber per API process, fanned out to every live follower (SSE streams and
 * WebSocket subscriptions): a follower costs a Set entry, not a connection.
 *
 * Per-order messages are only a wake-up call: a follower reads the timeline from MySQL, so it never
 * shows a change out of order or twice. Pub/sub keeps nothing, so the hub tells followers whether
 * they can rely on it: a channel is healthy once Redis confirmed its SUBSCRIBE on the current
 * connection. When the connection drops every channel turns unhealthy (followers poll MySQL), and
 * after the hub has subscribed them again on the new connection they turn healthy (followers read
 * once to catch up on what was published while nobody listened, then wait for wake-ups again).
 *
 * The "all orders" feed (admins over WebSocket) is one pattern subscription on the same channels,
 * taken only while someone listens; its messages carry the change itself.
 */
export class OrderEventHub {
  private subscriber: RedisClient | undefined;
  private connected = false;
  /** Bumped on every disconnect: a SUBSCRIBE answered for an older connection confirms nothing. */
  private epoch = 0;
  private readonly channels = new Map<string, Channel>();
  private readonly allListeners = new Set<(change: PublishedChange) => void>();
  private patternConfirmed = false;
  private closed = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Follows one order's channel; `wake` is called on each published change and on health changes. */
  follow(orderId: string, wake: Wake): Following {
    const name = orderEventsChannel(this.prefix, orderId);
    this.ensureSubscriber();
    let channel = this.channels.get(name);
    if (!channel) {
      channel = { wakes: new Set(), confirmed: false, generation: 0, waiters: new Set() };
      this.channels.set(name, channel);
      if (this.connected) this.subscribeChannels([name]);
    }
    channel.wakes.add(wake);
    const ch = channel;
    let open = true;
    return {
      healthy: () => open && this.connected && ch.confirmed,
      generation: () => ch.generation,
      ready: (ms) =>
        new Promise<void>((resolve) => {
          if (this.connected && ch.confirmed) return resolve();
          const done = () => {
            clearTimeout(timer);
            ch.waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, ms);
          ch.waiters.add(done);
        }),
      close: () => {
        if (!open) return;
        open = false;
        ch.wakes.delete(wake);
        if (ch.wakes.size === 0 && this.channels.get(name) === ch) {
          this.channels.delete(name);
          for (const w of ch.waiters) w();
          if (this.connected) this.subscriber?.unsubscribe(name).catch(() => {});
        }
      },
    };
  }

  /** Every order's changes, as published (best effort: nothing is replayed after an outage). */
  followAll(listener: (change: PublishedChange) => void): () => void {
    this.ensureSubscriber();
    this.allListeners.add(listener);
    if (this.allListeners.size === 1 && this.connected) this.subscribePattern();
    return () => {
      if (!this.allListeners.delete(listener) || this.allListeners.size > 0) return;
      this.patternConfirmed = false;
      if (this.connected) this.subscriber?.punsubscribe(this.pattern()).catch(() => {});
    };
  }

  /** For readiness and tests: is the subscriber connected and every channel confirmed? */
  get status(): { connected: boolean; channels: number; pending: number; allFeed: boolean } {
    const pending = [...this.channels.values()].filter((c) => !c.confirmed).length;
    return {
      connected: this.connected,
      channels: this.channels.size,
      pending,
      allFeed: this.patternConfirmed,
    };
  }

  /** The subscriber connection itself, once opened (tests cut it to prove the polling fallback). */
  get subscriberConnection(): RedisClient | undefined {
    return this.subscriber;
  }

  close(): void {
    this.closed = true;
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.connected = false;
    for (const ch of this.channels.values()) for (const w of ch.wakes) w('health');
  }

  private pattern(): string {
    return orderEventsChannel(this.prefix, '*');
  }

  private ensureSubscriber(): void {
    if (this.subscriber || this.closed) return;
    // The hub re-subscribes itself after a reconnect, so that it knows when each channel is live
    // again (ioredis's own resubscribe gives no answer to wait for).
    const sub = duplicateForSubscribe(this.redis, {
      enableOfflineQueue: false,
      autoResubscribe: false,
      connectionName: 'orderflow-live',
    });
    sub.on('error', () => {});
    sub.on('ready', () => this.onReady());
    sub.on('close', () => this.onLost());
    sub.on('message', (channel: string) => {
      for (const wake of this.channels.get(channel)?.wakes ?? []) wake('event');
    });
    sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
      const orderId = channel.slice(this.pattern().length - 1);
      let parsed: z.infer<typeof published>;
      try {
        parsed = published.parse(JSON.parse(message));
      } catch {
        return;
      }
      for (const l of this.allListeners) l({ orderId, ...parsed });
    });
    this.subscriber = sub;
  }

  private onReady(): void {
    this.connected = true;
    this.subscribeChannels([...this.channels.keys()]);
    if (this.allListeners.size > 0) this.subscribePattern();
  }

  private onLost(): void {
    if (!this.connected) return;
    this.connected = false;
    this.epoch++;
    this.patternConfirmed = false;
    for (const ch of this.channels.values()) {
      ch.confirmed = false;
      for (const w of ch.wakes) w('health');
    }
  }

  private subscribeChannels(names: string[]): void {
    const sub = this.subscriber;
    if (!sub || names.length === 0) return;
    const epoch = this.epoch;
    sub.subscribe(...names).then(
      () => {
        if (epoch !== this.epoch) return;
        for (const name of names) {
          const ch = this.channels.get(name);
          if (!ch || ch.confirmed) continue;
          ch.confirmed = true;
          ch.generation++;
          for (const w of ch.waiters) w();
          for (const w of ch.wakes) w('health');
        }
      },
      // Not confirmed: followers keep polling until the next connection subscribes again.
      () => {},
    );
  }

  private subscribePattern(): void {
    const sub = this.subscriber;
    if (!sub) return;
    const epoch = this.epoch;
    sub.psubscribe(this.pattern()).then(
      () => {
        if (epoch === this.epoch && this.allListeners.size > 0) this.patternConfirmed = true;
      },
      () => {},
    );
  }
}
