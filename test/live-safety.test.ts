import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Actor } from '../domain/actor';
import { cancelOrder } from '../domain/orders/compensate';
import type { OrderContext } from '../domain/orders/context';
import type { Harness } from './support/harness';
import {
  connectWs,
  followSse,
  type LiveStack,
  reservedOrder as reservedOrderOf,
  type serveHarness,
  startLiveStack,
} from './support/live';
import type { shop } from './support/shop';
import { eventually } from './support/workers';

/** The cancels below are a customer's (the actor their timeline rows name). */
const customer: Actor = { type: 'user' };

// Pub/sub is healthy but one change is never published (the publish was lost, e.g. a failover between
// the commit and the PUBLISH): the slow safety re-read (LIVE_SAFETY_RECHECK_SECONDS) still finds it.
const SAFETY_S = 3;

let h: Harness;
let stack: LiveStack;
let srv: ReturnType<typeof serveHarness>;
let s: ReturnType<typeof shop>;
/** The order rules with publishing suppressed: changes commit in MySQL, nobody is told. */
let silent: OrderContext;

beforeAll(async () => {
  stack = await startLiveStack({ LIVE_SAFETY_RECHECK_SECONDS: String(SAFETY_S) }, { queues: ['reserve'] });
  ({ h, s, srv } = stack);
  silent = { ...h.deps.orders, events: { committed: async () => {} } };
});
afterAll(async () => {
  await stack?.stop();
});

const reservedOrder = (token: string) => reservedOrderOf(s, token);
const healthy = () => h.live.hub.status.connected && h.live.hub.status.pending === 0;
/** The interval, with room for a slow machine. */
const withinSafety = (SAFETY_S + 5) * 1000;

test('an SSE stream whose final change was never published still ends, within the safety interval', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const res = await fetch(`${srv.url}/orders/${id}/events`, {
    headers: { authorization: `Bearer ${user.token}` },
  });
  expect(res.status).toBe(200);
  const sse = followSse(res);
  await eventually(() => sse.state.events.length === 1 && healthy(), 'the status event, subscribed');
  const polls = h.live.reads.poll;
  const safety = h.live.reads.safety;

  await cancelOrder(silent, id, customer);
  await eventually(() => sse.state.ended, 'the stream to end', withinSafety);
  expect(sse.state.error).toBeUndefined();
  expect(
    sse.state.events.filter((e) => e.event === 'change').map((e) => `${e.data.from}->${e.data.to}`),
  ).toEqual(['reserved->cancelled']);
  // Found by the safety re-read, not by a fallback poll (pub/sub never looked unhealthy).
  expect(h.live.reads.safety).toBeGreaterThan(safety);
  expect(h.live.reads.poll).toBe(polls);
}, 60_000);

test('a WebSocket subscription gets a change that was never published, within the safety interval', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const ws = await connectWs(srv.wsUrl);
  await ws.auth(user.token);
  ws.send({ type: 'subscribe', orderId: id });
  await ws.next((m) => m.type === 'status' && m.orderId === id, 'the status message');
  await eventually(healthy, 'subscribed');

  await cancelOrder(silent, id, customer);
  const change = await ws.next((m) => m.type === 'change' && m.orderId === id, 'the change', withinSafety);
  expect(change).toMatchObject({ from: 'reserved', to: 'cancelled' });
  await ws.close();
}, 60_000);

test('a quiet stream with pub/sub healthy reads the order no more often than the safety interval', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  await eventually(() => h.live.slots.open === 0, 'no stream left from earlier tests');
  const stop = new AbortController();
  const res = await fetch(`${srv.url}/orders/${id}/events`, {
    headers: { authorization: `Bearer ${user.token}` },
    signal: stop.signal,
  });
  const sse = followSse(res);
  await eventually(() => sse.state.events.length === 1 && healthy(), 'the status event, subscribed');
  const before = { ...h.live.reads };
  // Three safety reads, each seen as it happens: "no more often than the interval" is the gap
  // between two of them, a lower bound that no slow machine can break.
  const seenAt: number[] = [];
  let counted = before.safety;
  await eventually(
    () => {
      if (h.live.reads.safety > counted) {
        counted = h.live.reads.safety;
        seenAt.push(performance.now());
      }
      return seenAt.length >= 3;
    },
    'three safety reads',
    SAFETY_S * 1000 * 4 + 5000,
  );
  const reads = (Object.keys(before) as (keyof typeof before)[]).reduce(
    (n, k) => n + h.live.reads[k] - before[k],
    0,
  );
  // Every read was a safety read, one at a time (none missed between two looks), and none of them a poll.
  expect(h.live.reads.safety - before.safety).toBe(seenAt.length);
  expect(reads).toBe(seenAt.length);
  const gaps = seenAt.slice(1).map((t, i) => t - (seenAt[i] ?? 0));
  // The looks are 25 ms apart: a gap can seem that much shorter than it was.
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(SAFETY_S * 1000 - 100);
  expect(sse.state.ended).toBe(false);
  stop.abort();
  await eventually(() => h.live.slots.open === 0, 'its slot released');
}, 60_000);
