import type { Db } from '../../db/client';
import { getOrderView, type OrderView } from '../../domain/orders/read';
import { isFinal } from '../../domain/orders/status';
import type { OrderEventHub } from './hub';

/** How often a follower re-reads the order while pub/sub cannot wake it (subscriber down or not yet subscribed). */
export const POLL_MS = 2000;
/** How long a new follower waits for its channel before its first read (else it polls until confirmed). */
const READY_WAIT_MS = 1000;

export type OrderChange = OrderView['events'][number];

/**
 * Where the order's timeline has reached. `getOrderView` reads the order row before its timeline, so
 * a change committed between the two reads is in `events` but not yet in `status`. Every transition
 * writes its timeline row in the same transaction, so the last event is never older than the row:
 * reporting it keeps what the follower says and the events it counts as sent in step (reporting the
 * row's status while counting the newer event as sent would lose that change for good).
 */
function reached(order: OrderView): { status: OrderView['status']; at: string } {
  const last = order.events.at(-1);
  return last && last.to !== order.status
    ? { status: last.to, at: last.at }
    : { status: order.status, at: order.updatedAt };
}

/**
 * Why live tracking read an order from MySQL; `poll` is the fallback that a healthy hub never needs,
 * `safety` the slow re-read that catches a publish lost while the hub looked healthy, `access` the
 * owner check of a WebSocket subscribe (before any follower exists).
 */
export type ReadTrigger = 'open' | 'event' | 'resync' | 'poll' | 'safety' | 'access';

export interface FollowOptions {
  db: Db;
  hub: OrderEventHub;
  orderId: string;
  /** Stops following (client gone, unsubscribed, shutdown). */
  signal: AbortSignal;
  /** The order's current status, sent once before any change. */
  onStatus(status: { status: OrderView['status']; at: string }): Promise<void> | void;
  onChange(change: OrderChange): Promise<void> | void;
  /** Called after this long without a write, while the order is quiet (SSE keeps its connection alive). */
  heartbeat?: { everyMs: number; beat(): Promise<void> | void };
  /**
   * With pub/sub healthy, the longest time without a read (LIVE_SAFETY_RECHECK_SECONDS): a publish can
   * be lost (a failover between the commit and the PUBLISH), and nothing else would notice.
   */
  safetyRecheckMs?: number;
  /** Counts every MySQL read by trigger (metrics, and the tests that prove a healthy hub never polls). */
  onRead?(trigger: ReadTrigger): void;
}

/**
 * Follows one order until it is final or `signal` aborts: its current status, then each change in
 * the order MySQL's timeline has them, each exactly once. The timeline is re-read when pub/sub says
 * something changed, once after pub/sub recovers (to catch what it missed), every POLL_MS while
 * pub/sub cannot be relied on, and otherwise once per `safetyRecheckMs` without a read (a lost
 * publish). A healthy quiet order costs one query per safety interval.
 */
export async function followOrder(o: FollowOptions): Promise<void> {
  const safetyMs = o.safetyRecheckMs ?? Number.POSITIVE_INFINITY;
  let pending: 'event' | 'health' | null = null;
  let resume: (() => void) | undefined;
  const nudge = (why: 'event' | 'health') => {
    // An event outranks a health change: both lead to a read when healthy, and 'event' says so.
    if (pending !== 'event') pending = why;
    resume?.();
  };
  const following = o.hub.follow(o.orderId, nudge);
  const onAbort = () => resume?.();
  o.signal.addEventListener('abort', onAbort);
  const read = async (trigger: ReadTrigger) => {
    o.onRead?.(trigger);
    return getOrderView(o.db, o.orderId);
  };
  try {
    await following.ready(READY_WAIT_MS);
    if (o.signal.aborted) return;
    let lastRead = Date.now();
    // The subscription this read is covered by: a later one means pub/sub may have missed something.
    let coveredBy = following.generation();
    let order = await read('open');
    await o.onStatus(reached(order));
    let sent = order.events.length;
    let lastWrite = Date.now();
    while (!isFinal(reached(order).status) && !o.signal.aborted) {
      if (pending === null) {
        const now = Date.now();
        const beatIn = o.heartbeat ? o.heartbeat.everyMs - (now - lastWrite) : Number.POSITIVE_INFINITY;
        const pollIn = (following.healthy() ? safetyMs : POLL_MS) - (now - lastRead);
        const timeout = Math.max(0, Math.min(beatIn, pollIn));
        await new Promise<void>((resolve) => {
          const timer = Number.isFinite(timeout) ? setTimeout(resolve, timeout) : undefined;
          resume = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        resume = undefined;
      }
      if (o.signal.aborted) break;
      const why = pending;
      pending = null;
      const healthy = following.healthy();
      let trigger: ReadTrigger | undefined;
      if (healthy && following.generation() !== coveredBy) trigger = 'resync';
      else if (why === 'event') trigger = 'event';
      else if (!healthy && Date.now() - lastRead >= POLL_MS) trigger = 'poll';
      else if (healthy && Date.now() - lastRead >= safetyMs) trigger = 'safety';
      if (trigger) {
        lastRead = Date.now();
        coveredBy = healthy ? following.generation() : -1;
        order = await read(trigger);
        for (const change of order.events.slice(sent)) {
          await o.onChange(change);
          lastWrite = Date.now();
        }
        sent = order.events.length;
      }
      if (o.heartbeat && Date.now() - lastWrite >= o.heartbeat.everyMs && !isFinal(reached(order).status)) {
        await o.heartbeat.beat();
        lastWrite = Date.now();
      }
    }
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    following.close();
  }
}
