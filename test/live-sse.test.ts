import { afterAll, beforeAll, expect, test } from 'bun:test';
import { POLL_MS } from '../api/live/follow';
import { ConfigError, loadConfig } from '../lib/config';
import type { Harness } from './support/harness';
import {
  followSse,
  type LiveStack,
  reservedOrder as reservedOrderOf,
  serveHarness,
  startLiveStack,
} from './support/live';
import type { shop } from './support/shop';
import { eventually } from './support/workers';

// A heartbeat above Bun's default idle timeout (10 s) and an idle timeout of 30 s: a server started
// without `idleTimeout` cuts a quiet stream after 10 s, one without heartbeats after 30 s.
const IDLE_S = 30;
const SAFETY_S = 3;
const HEARTBEAT_S = 12;

let h: Harness;
let stack: LiveStack;
let srv: ReturnType<typeof serveHarness>;
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  stack = await startLiveStack({
    HTTP_IDLE_TIMEOUT_SECONDS: String(IDLE_S),
    LIVE_HEARTBEAT_SECONDS: String(HEARTBEAT_S),
    LIVE_MAX_PER_USER: '2',
    LIVE_MAX_PER_PROCESS: '3',
    // Longer than POLL_MS: a quiet, healthy stream's next read is a safety read, after any poll would have come.
    LIVE_SAFETY_RECHECK_SECONDS: String(SAFETY_S),
  });
  ({ h, s, srv } = stack);
});
afterAll(async () => {
  await stack?.stop();
});

const reservedOrder = (token: string) => reservedOrderOf(s, token);

function open(orderId: string, token: string, signal?: AbortSignal) {
  return fetch(`${srv.url}/orders/${orderId}/events`, {
    headers: { authorization: `Bearer ${token}` },
    ...(signal ? { signal } : {}),
  });
}

async function pay(orderId: string, token: string) {
  const res = await h.json('POST', '/payment', { orderId, token: 'tok_visa' }, token);
  expect(res.status).toBe(202);
}

const changes = (events: { event: string; data: Record<string, unknown> }[]) =>
  events.filter((e) => e.event === 'change').map((e) => `${e.data.from}->${e.data.to}`);

test('a quiet stream stays open past the idle timeout on heartbeats, then delivers the payment, without polling', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const polls = h.live.reads.poll;
  const res = await open(id, user.token);
  expect(res.status).toBe(200);
  const sse = followSse(res);
  await eventually(() => sse.state.events.length === 1, 'the status event');
  expect(sse.state.events[0]).toEqual({
    event: 'status',
    data: { status: 'reserved', at: expect.any(String) },
  });

  // Quiet for longer than the idle timeout: only heartbeats keep it open.
  await Bun.sleep((IDLE_S + 5) * 1000);
  expect(sse.state.ended).toBe(false);
  expect(sse.state.comments).toBeGreaterThanOrEqual(2);

  await pay(id, user.token);
  await sse.done;
  expect(sse.state.error).toBeUndefined();
  expect(changes(sse.state.events)).toEqual(['reserved->paid', 'paid->completed']);
  // Pub/sub was healthy all along: 35 s of a quiet order cost no poll.
  expect(h.live.reads.poll - polls).toBe(0);
}, 90_000);

test('a stream whose pub/sub is cut falls back to polling, and stops polling once resubscribed', async () => {
  const user = await h.signUp();
  const first = await reservedOrder(user.token);
  const second = await reservedOrder(user.token);
  const sub = h.live.hub.subscriberConnection;
  const a = followSse(await open(first, user.token));
  await eventually(
    () => a.state.events.length === 1 && h.live.hub.status.pending === 0,
    'a subscribed stream',
  );
  const liveSub = h.live.hub.subscriberConnection;
  expect(liveSub).toBeDefined();
  expect(sub === undefined || sub === liveSub).toBe(true);

  // Cut the subscriber (it stays down until we reconnect it): no message can wake the stream now.
  liveSub?.disconnect();
  await eventually(() => !h.live.hub.status.connected, 'the subscriber down');
  const pollsBefore = h.live.reads.poll;
  await pay(first, user.token);
  await eventually(() => a.state.ended, 'the first stream to end', 20_000);
  expect(changes(a.state.events)).toEqual(['reserved->paid', 'paid->completed']);
  expect(h.live.reads.poll).toBeGreaterThan(pollsBefore);

  // A stream opened while pub/sub is down still starts (after a short wait for its channel) and polls.
  const b = followSse(await open(second, user.token));
  await eventually(() => b.state.events.length === 1, 'the second stream status', 10_000);
  const whileDown = h.live.reads.poll;
  await eventually(() => h.live.reads.poll > whileDown, 'a poll while down', 3 * POLL_MS + 5000);

  // Back up: the hub subscribes again, the stream reads once to catch up, and polling stops.
  const resyncs = h.live.reads.resync;
  await liveSub?.connect();
  await eventually(() => h.live.hub.status.connected && h.live.hub.status.pending === 0, 'resubscribed');
  await eventually(() => h.live.reads.resync > resyncs, 'the catch-up read');
  const settled = h.live.reads.poll;
  // Polling stopped: the stream's next read is a safety read (only a stream that trusts pub/sub makes
  // one, SAFETY_S after its last read), and no poll came before it (one would, every POLL_MS).
  const safety = h.live.reads.safety;
  await eventually(() => h.live.reads.safety > safety, 'a safety read', SAFETY_S * 1000 * 3 + 5000);
  expect(h.live.reads.poll).toBe(settled);

  const events = h.live.reads.event;
  await pay(second, user.token);
  await eventually(() => b.state.ended, 'the second stream to end', 20_000);
  expect(changes(b.state.events)).toEqual(['reserved->paid', 'paid->completed']);
  expect(h.live.reads.event).toBeGreaterThan(events);
  expect(h.live.reads.poll).toBe(settled);
}, 90_000);

test('open streams are capped per user and per process with a 429 problem, and a closed one frees its slot', async () => {
  const one = await h.signUp();
  const two = await h.signUp();
  const ids = [
    await reservedOrder(one.token),
    await reservedOrder(one.token),
    await reservedOrder(two.token),
  ];
  await eventually(() => h.live.slots.open === 0, 'no stream left from earlier tests');
  const stop = new AbortController();
  const a = followSse(await open(ids[0] as string, one.token, stop.signal));
  const b = followSse(await open(ids[1] as string, one.token));
  await eventually(() => a.state.events.length === 1 && b.state.events.length === 1, 'two streams open');

  const third = await open(ids[0] as string, one.token);
  expect(third.status).toBe(429);
  expect(third.headers.get('content-type')).toBe('application/problem+json');
  expect(third.headers.get('retry-after')).toBeTruthy();
  expect(((await third.json()) as { detail: string }).detail).toContain('2 orders live');

  const c = followSse(await open(ids[2] as string, two.token));
  await eventually(() => c.state.events.length === 1, "the other user's stream");
  const full = await open(ids[2] as string, two.token);
  expect(full.status).toBe(429);
  expect(((await full.json()) as { detail: string }).detail).toContain('retry shortly');

  // A client that goes away gives its slot back, and the user may open another.
  stop.abort();
  await eventually(() => h.live.slots.open === 2, 'the aborted stream released');
  const again = await open(ids[0] as string, one.token);
  expect(again.status).toBe(200);
  const d = followSse(again);
  await eventually(() => d.state.events.length === 1, 'the reopened stream');
  for (const x of [b, c, d]) await x.cancel();
  await eventually(() => h.live.slots.open === 0, 'every slot released');
}, 60_000);

test('stopping the server ends open streams instead of waiting for them', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const own = serveHarness(h);
  const sse = followSse(
    await fetch(`${own.url}/orders/${id}/events`, { headers: { authorization: `Bearer ${user.token}` } }),
  );
  await eventually(() => sse.state.events.length === 1, 'the stream open');
  const started = Date.now();
  await own.stop();
  await sse.done;
  expect(Date.now() - started).toBeLessThan(5000);
  await eventually(() => h.live.slots.open === 0, 'its slot released');
}, 30_000);

test('the defaults keep a heartbeat well inside the idle timeout, and a setting that does not is refused', () => {
  const defaults = loadConfig({ NODE_ENV: 'test' });
  // Bun's own default idle timeout (10 s) is what cut streams before; ours must be longer.
  expect(defaults.HTTP_IDLE_TIMEOUT_SECONDS).toBeGreaterThan(10);
  expect(defaults.LIVE_HEARTBEAT_SECONDS * 2).toBeLessThanOrEqual(defaults.HTTP_IDLE_TIMEOUT_SECONDS);
  expect(() =>
    loadConfig({ NODE_ENV: 'test', HTTP_IDLE_TIMEOUT_SECONDS: '20', LIVE_HEARTBEAT_SECONDS: '15' }),
  ).toThrow(ConfigError);
});
