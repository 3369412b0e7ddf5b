import { z } from 'zod';
import { duplicateForSubscribe, type RedisClient } from '../../lib/redis';
import { orderEventsChannel } from '../../wiring/order-events';

/** A change as the publisher sends it (wiring/order-events.ts): a message is an array of them. */
const published = z.object({
  orderId: z.string(),
  from: z.string().nullable(),
  to: z.string(),
  at: z.string(),
  reason: z.string().optional(),
});

export type PublishedChange = z.infer<typeof published>;

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

/**
 * One Redis subscriber per API process, fanned out to every live follower (SSE streams and
 * WebSocket subscriptions): a follower costs a Set entry, not a connection or a subscription.
 *
 * Every order's changes come on one shared channel, one message per committed batch; the hub
 * subscribes to it while anyone in this process follows an order (or the "all orders" feed) and
 * hands each change to its order's followers. A message is only a wake-up call for them: a follower
 * reads the timeline from MySQL, so it never shows a change out of order or twice. Pub/sub keeps
 * nothing, so the hub tells followers whether they can rely on it: healthy once Redis confirmed the
 * SUBSCRIBE on the current connection. When the connection drops every follower turns unhealthy
 * (followers poll MySQL), and after the hub has subscribed again on the new connection they turn
 * healthy (followers read once to catch up on what was published while nobody listened, then wait
 * for wake-ups again). The "all orders" feed (admins over WebSocket) gets the changes themselves.
 */
export class OrderEventHub {
  private subscriber: RedisClient | undefined;
  private connected = false;
  /** Bumped on every disconnect: a SUBSCRIBE answered for an older connection confirms nothing. */
  private epoch = 0;
  /** Bumped on every SUBSCRIBE and UNSUBSCRIBE sent: only the answer to the latest one counts. */
  private request = 0;
  private subscription: 'none' | 'sent' | 'confirmed' = 'none';
  /** Counts confirmed subscriptions: it changes when pub/sub may have missed messages. */
  private confirmations = 0;
  private readonly followers = new Map<string, Set<Wake>>();
  private readonly waiters = new Set<() => void>();
  private readonly allListeners = new Set<(change: PublishedChange) => void>();
  private readonly channel: string;
  private closed = false;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.channel = orderEventsChannel(prefix);
  }

  /** Follows one order's changes; `wake` is called on each published change and on health changes. */
  follow(orderId: string, wake: Wake): Following {
    this.ensureSubscriber();
    let wakes = this.followers.get(orderId);
    if (!wakes) {
      wakes = new Set();
      this.followers.set(orderId, wakes);
    }
    wakes.add(wake);
    this.sync();
    const mine = new Set<() => void>();
    let open = true;
    return {
      healthy: () => open && this.live(),
      generation: () => this.confirmations,
      ready: (ms) =>
        new Promise<void>((resolve) => {
          if (this.live()) return resolve();
          const done = () => {
            clearTimeout(timer);
            this.waiters.delete(done);
            mine.delete(done);
            resolve();
          };
          const timer = setTimeout(done, ms);
          this.waiters.add(done);
          mine.add(done);
        }),
      close: () => {
        if (!open) return;
        open = false;
        for (const done of [...mine]) done();
        const set = this.followers.get(orderId);
        set?.delete(wake);
        if (set?.size === 0) this.followers.delete(orderId);
        this.sync();
      },
    };
  }

  /** Every order's changes, as published (best effort: nothing is replayed after an outage). */
  followAll(listener: (change: PublishedChange) => void): () => void {
    this.ensureSubscriber();
    this.allListeners.add(listener);
    this.sync();
    return () => {
      if (!this.allListeners.delete(listener)) return;
      this.sync();
    };
  }

  /** For readiness and tests: is the subscriber connected and the channel confirmed? */
  get status(): { connected: boolean; channels: number; pending: number; allFeed: boolean } {
    return {
      connected: this.connected,
      channels: this.followers.size,
      pending: this.live() ? 0 : this.followers.size,
      allFeed: this.allListeners.size > 0 && this.live(),
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
    this.subscription = 'none';
    this.wakeAll('health');
  }

  private live(): boolean {
    return this.connected && this.subscription === 'confirmed';
  }

  private ensureSubscriber(): void {
    if (this.subscriber || this.closed) return;
    // The hub re-subscribes itself after a reconnect, so that it knows when the channel is live
    // again (ioredis's own resubscribe gives no answer to wait for).
    const sub = duplicateForSubscribe(this.redis, {
      enableOfflineQueue: false,
      autoResubscribe: false,
      connectionName: 'orderflow-live',
    });
    sub.on('error', () => {});
    sub.on('ready', () => this.onReady());
    sub.on('close', () => this.onLost());
    sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.subscriber = sub;
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.channel || (this.followers.size === 0 && this.allListeners.size === 0)) return;
    let changes: unknown;
    try {
      changes = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(changes)) return;
    for (const change of changes) {
      const orderId = (change as { orderId?: unknown } | null)?.orderId;
      if (typeof orderId !== 'string') continue;
      for (const wake of this.followers.get(orderId) ?? []) wake('event');
      if (this.allListeners.size === 0) continue;
      const parsed = published.safeParse(change);
      if (parsed.success) for (const l of this.allListeners) l(parsed.data);
    }
  }

  private onReady(): void {
    this.connected = true;
    this.subscription = 'none';
    this.sync();
  }

  private onLost(): void {
    if (!this.connected) return;
    this.connected = false;
    this.epoch++;
    this.subscription = 'none';
    this.wakeAll('health');
  }

  /** Subscribes while anyone here listens, unsubscribes when nobody does. */
  private sync(): void {
    const sub = this.subscriber;
    if (!sub || !this.connected) return;
    const wanted = this.followers.size > 0 || this.allListeners.size > 0;
    if (wanted && this.subscription === 'none') {
      this.subscription = 'sent';
      const request = ++this.request;
      const epoch = this.epoch;
      sub.subscribe(this.channel).then(
        () => {
          if (request !== this.request || epoch !== this.epoch) return;
          this.subscription = 'confirmed';
          this.confirmations++;
          for (const w of [...this.waiters]) w();
          this.wakeAll('health');
        },
        // Not confirmed: followers keep polling; the next follow (or connection) asks again.
        () => {
          if (request === this.request && epoch === this.epoch) this.subscription = 'none';
        },
      );
    } else if (!wanted && this.subscription !== 'none') {
      this.subscription = 'none';
      this.request++;
      sub.unsubscribe(this.channel).catch(() => {});
    }
  }

  private wakeAll(why: 'health'): void {
    for (const wakes of this.followers.values()) for (const w of wakes) w(why);
  }
}
