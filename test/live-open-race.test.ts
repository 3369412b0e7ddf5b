import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { followOrder, type OrderChange } from '../api/live/follow';
import { createDb, createPool } from '../db/client';
import type { RedisClient } from '../lib/redis';
import { createHarness, type Harness } from './support/harness';
import { connectWs, followSse, type SseEvent, serveHarness, type WsMessage } from './support/live';
import { shop } from './support/shop';
import { eventually } from './support/workers';

// A follower's first read comes only once the hub's subscription is confirmed (api/live/follow.ts):
// a final change committed and published while the subscription is being set up is then either in
// that read or, published after it, wakes the follower. Here the order is cancelled (a final status)
// in exactly that window, and every stream must deliver `cancelled` and end. No workers run: the
// orders stay `pending` until the test cancels them.

let h: Harness;
let s: ReturnType<typeof shop>;
let srv: ReturnType<typeof serveHarness>;
let user: { id: string; token: string };

beforeAll(async () => {
  h = await createHarness();
  s = shop(h, await h.signUp('admin'));
  user = await h.signUp('user');
  srv = serveHarness(h);
});
afterAll(async () => {
  await srv?.stop();
  await h?.cleanup();
});

async function pendingOrder(): Promise<string> {
  const res = await s.place(user.token, await s.product(5), 1);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function cancel(id: string) {
  const res = await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token);
  expect(res.status).toBe(200);
}

async function openSse(id: string) {
  const res = await fetch(`${srv.url}/orders/${id}/events`, {
    headers: { authorization: `Bearer ${user.token}` },
  });
  expect(res.status).toBe(200);
  return res;
}

/** The last status an SSE stream told: its status event, then each change. */
function lastSseStatus(events: SseEvent[]): unknown {
  const last = events.at(-1);
  return last?.event === 'change' ? last.data.to : last?.data.status;
}

/** The last status a WebSocket subscription told for one order. */
function lastWsStatus(messages: WsMessage[], id: string): unknown {
  const last = messages
    .filter((m) => m.orderId === id && (m.type === 'status' || m.type === 'change'))
    .at(-1);
  return last?.type === 'change' ? last.to : last?.status;
}

/**
 * Holds the hub's SUBSCRIBE until released: between a follower opening and its channel being
 * subscribed, a publish reaches nobody here. Returns how many SUBSCRIBEs were asked for so far.
 */
async function holdSubscribe() {
  // The hub opens its subscriber with its first follower; open (and close) one so that it exists.
  const warm = h.live.hub.follow('ord_warm', () => {});
  await warm.ready(5000);
  warm.close();
  const sub = h.live.hub.subscriberConnection as RedisClient;
  const original = sub.subscribe;
  const state = { asked: 0, gate: Promise.resolve() as Promise<void>, release: () => {} };
  sub.subscribe = (async (...args: unknown[]) => {
    state.asked++;
    await state.gate;
    return (original as (...a: unknown[]) => Promise<unknown>).apply(sub, args);
  }) as RedisClient['subscribe'];
  return {
    asked: () => state.asked,
    /** The next SUBSCRIBE waits for `release`. */
    hold() {
      state.gate = new Promise((resolve) => {
        state.release = resolve;
      });
    },
    release: () => state.release(),
    restore() {
      state.release();
      sub.subscribe = original;
    },
  };
}

const idle = () => eventually(() => h.live.hub.status.channels === 0, 'nobody following any more', 5000);

describe('a final change while a follower subscribes is not missed', () => {
  test('SSE and WebSocket: cancelled while the hub’s SUBSCRIBE is held back, then released', async () => {
    const seam = await holdSubscribe();
    try {
      for (let i = 0; i < 3; i++) {
        await idle();
        const id = await pendingOrder();
        seam.hold();
        const asked = seam.asked();
        const opening = openSse(id);
        // The stream is open and its follower is waiting for the channel: the window.
        await eventually(() => seam.asked() > asked, 'the hub asking to subscribe', 5000);
        await cancel(id);
        seam.release();
        const sse = followSse(await opening);
        await eventually(() => sse.state.ended, 'the stream to end', 5000);
        expect(sse.state.error).toBeUndefined();
        expect(lastSseStatus(sse.state.events)).toBe('cancelled');
      }

      await idle();
      const ws = await connectWs(srv.wsUrl);
      try {
        await ws.auth(user.token);
        const id = await pendingOrder();
        seam.hold();
        const asked = seam.asked();
        ws.send({ type: 'subscribe', orderId: id });
        await eventually(() => seam.asked() > asked, 'the hub asking to subscribe', 5000);
        await cancel(id);
        seam.release();
        await eventually(
          () => lastWsStatus(ws.messages, id) === 'cancelled',
          'cancelled over the socket',
          5000,
        );
        // The subscription ended with the final status: the hub follows nobody.
        await idle();
      } finally {
        await ws.close();
      }
    } finally {
      seam.restore();
    }
  });

  test('SSE: cancelled right as the stream opens, many times over (real timing, no seam)', async () => {
    for (let i = 0; i < 20; i++) {
      await idle();
      const id = await pendingOrder();
      const opening = openSse(id);
      // Spread the cancel across the stream's first milliseconds: before, during and after SUBSCRIBE.
      await Bun.sleep(i % 5);
      await cancel(id);
      const sse = followSse(await opening);
      await eventually(() => sse.state.ended, `stream ${i} to end`, 5000);
      expect(sse.state.error).toBeUndefined();
      expect(lastSseStatus(sse.state.events)).toBe('cancelled');
    }
  });

  test('WebSocket: cancelled right as the subscription is asked for, many times over', async () => {
    const ws = await connectWs(srv.wsUrl);
    try {
      await ws.auth(user.token);
      for (let i = 0; i < 20; i++) {
        await idle();
        const id = await pendingOrder();
        ws.send({ type: 'subscribe', orderId: id });
        await Bun.sleep(i % 5);
        await cancel(id);
        await eventually(
          () => lastWsStatus(ws.messages, id) === 'cancelled',
          `subscription ${i} cancelled`,
          5000,
        );
      }
    } finally {
      await ws.close();
    }
  });
});

describe('the follower’s first read is two statements', () => {
  // getOrderView reads the order row, then its timeline: a change committed between the two is in the
  // timeline but not in the row's status. The follower must report it (and end, when it is final),
  // not report the row's status while counting the newer change as already sent.
  test('a cancel committed between the order row and its timeline is still told, and the follow ends', async () => {
    const id = await pendingOrder();
    const pool = createPool(h.config.DATABASE_URL, 2);
    let cancelled = false;
    // The seam: the first read of the timeline waits for a cancel committed through the API.
    const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
    (pool as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { sql?: string }).sql;
      if (!cancelled && text?.includes('`order_events`')) {
        cancelled = true;
        // mysql2's promise pool: the read goes on once the cancel has committed.
        return cancel(id).then(() => query(...args));
      }
      return query(...args);
    };
    const statuses: string[] = [];
    const changes: OrderChange[] = [];
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 5000);
    try {
      await followOrder({
        db: createDb(pool),
        hub: h.live.hub,
        orderId: id,
        signal: stop.signal,
        onStatus: (st) => {
          statuses.push(st.status);
        },
        onChange: (c) => {
          changes.push(c);
        },
        safetyRecheckMs: 30_000,
      });
    } finally {
      clearTimeout(timer);
      await pool.end();
    }
    expect(cancelled).toBe(true);
    expect(stop.signal.aborted).toBe(false);
    const told = changes.at(-1)?.to ?? statuses.at(-1);
    expect(told).toBe('cancelled');
  });
});
