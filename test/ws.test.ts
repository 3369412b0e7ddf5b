import { afterAll, beforeAll, expect, test } from 'bun:test';
import net from 'node:net';
import { decodeJwt } from 'jose';
import { tokenSettings } from '../api/deps';
import { assembleApi } from '../api/start/assemble';
import { serveApi } from '../api/start/serve';
import { createLogger } from '../lib/logger';
import { encodeChanges, orderEventsChannel } from '../wiring/order-events';
import type { Harness } from './support/harness';
import {
  connectWs,
  type LiveStack,
  reservedOrder as reservedOrderOf,
  type serveHarness,
  startLiveStack,
  type WsMessage,
} from './support/live';
import type { shop } from './support/shop';
import { eventually } from './support/workers';

// As in live-sse.test.ts: a server without its idle timeout (Bun's 10 s) or without pings (30 s
// here) closes a quiet socket within the 35 s the quiet test waits.
const IDLE_S = 30;

let h: Harness;
let stack: LiveStack;
let srv: ReturnType<typeof serveHarness>;
let admin: { id: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  stack = await startLiveStack({
    HTTP_IDLE_TIMEOUT_SECONDS: String(IDLE_S),
    LIVE_HEARTBEAT_SECONDS: '12',
    LIVE_MAX_PER_USER: '2',
    LIVE_MAX_PER_PROCESS: '4',
    WS_MAX_SUBSCRIPTIONS: '3',
    WS_AUTH_TIMEOUT_SECONDS: '2',
    WS_MAX_BUFFERED_BYTES: '1024',
    // The caps test holds four pay-later orders of one user.
    MAX_UNPAID_ORDERS: '10',
  });
  ({ h, s, srv, admin } = stack);
});
afterAll(async () => {
  await stack?.stop();
});

type Message = WsMessage;

const connect = (url = srv.wsUrl) => connectWs(url);
const reservedOrder = (token: string) => reservedOrderOf(s, token);

async function pay(orderId: string, token: string) {
  const res = await h.json('POST', '/payment', { orderId, token: 'tok_visa' }, token);
  expect(res.status).toBe(202);
}

const changesOf = (messages: Message[], orderId: string) =>
  messages.filter((m) => m.type === 'change' && m.orderId === orderId).map((m) => `${m.from}->${m.to}`);

test('subscribe answers the status, then every change to completed', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const c = await connect();
  await c.auth(user.token);
  c.send({ type: 'subscribe', orderId: id });
  const status = await c.next((m) => m.type === 'status', 'status');
  expect(status).toEqual({ type: 'status', orderId: id, status: 'reserved', at: expect.any(String) });
  await pay(id, user.token);
  await eventually(() => changesOf(c.messages, id).includes('paid->completed'), 'completed');
  expect(changesOf(c.messages, id)).toEqual(['reserved->paid', 'paid->completed']);
  expect(c.messages.filter((m) => m.type === 'change').every((m) => typeof m.at === 'string')).toBe(true);
  await c.close();
}, 30_000);

test("someone else's order is a 403 error message; an unknown one 404; the socket stays usable", async () => {
  const owner = await h.signUp();
  const other = await h.signUp();
  const id = await reservedOrder(owner.token);
  const c = await connect();
  await c.auth(other.token);
  c.send({ type: 'subscribe', orderId: id });
  expect(await c.next((m) => m.type === 'error', '403')).toEqual({ type: 'error', orderId: id, status: 403 });
  c.send({ type: 'subscribe', orderId: 'ord_doesnotexist' });
  expect(await c.next((m) => m.status === 404, '404')).toEqual({
    type: 'error',
    orderId: 'ord_doesnotexist',
    status: 404,
  });
  c.send({ type: 'subscribe', all: true });
  expect(await c.next((m) => m.all === true, 'all refused')).toEqual({
    type: 'error',
    all: true,
    status: 403,
  });
  c.send({ type: 'dance' });
  expect(await c.next((m) => m.status === 400, 'bad message')).toMatchObject({ type: 'error', status: 400 });
  expect(c.messages.some((m) => m.type === 'status')).toBe(false);
  expect(c.state.closed).toBeUndefined();
  await c.close();
}, 30_000);

test('a bad token, no auth message first, or none in time closes with 4401', async () => {
  const bad = await connect();
  bad.send({ type: 'auth', token: 'not.a.token' });
  await eventually(() => bad.state.closed !== undefined, 'closed on a bad token');
  expect(bad.state.closed?.code).toBe(4401);

  const user = await h.signUp();
  const skipped = await connect();
  skipped.send({ type: 'subscribe', orderId: 'ord_x' });
  await eventually(() => skipped.state.closed !== undefined, 'closed without auth');
  expect(skipped.state.closed?.code).toBe(4401);

  const silent = await connect();
  await eventually(() => silent.state.closed !== undefined, 'closed after the auth timeout', 10_000);
  expect(silent.state.closed?.code).toBe(4401);
  expect(silent.messages).toEqual([]);

  // A valid token still works after all that (nothing leaked a slot).
  const good = await connect();
  await good.auth(user.token);
  await good.close();
  await eventually(() => h.live.slots.open === 0, 'no slot held');
}, 30_000);

test('a socket whose login is ended is closed with 4401 within one heartbeat', async () => {
  const user = await h.signUp();
  const c = await connect();
  await c.auth(user.token);
  const family = decodeJwt(user.token).fam as string;
  expect(family).toBeTruthy();
  await tokenSettings(h.deps).revocations?.revoke(family, 900);
  await eventually(() => c.state.closed !== undefined, 'closed after the revocation', 12_000 + 8_000);
  expect(c.state.closed?.code).toBe(4401);
  await eventually(() => h.live.slots.open === 0, 'its slot released');
}, 30_000);

test("an admin's all feed sees the changes of two users' orders", async () => {
  const feed = await connect();
  await feed.auth(admin.token);
  feed.send({ type: 'subscribe', all: true });
  await eventually(() => h.live.hub.status.allFeed, 'the all feed subscribed');
  const one = await h.signUp();
  const two = await h.signUp();
  const p = await s.product(10);
  const a = ((await (await s.place(one.token, p, 1)).json()) as { id: string }).id;
  const b = ((await (await s.place(two.token, p, 2)).json()) as { id: string }).id;
  await eventually(
    () =>
      changesOf(feed.messages, a).includes('paid->completed') &&
      changesOf(feed.messages, b).includes('paid->completed'),
    'both orders completed on the feed',
  );
  for (const id of [a, b]) {
    expect(changesOf(feed.messages, id)).toEqual([
      'null->pending',
      'pending->reserved',
      'reserved->paid',
      'paid->completed',
    ]);
  }
  feed.send({ type: 'unsubscribe', all: true });
  await eventually(() => !h.live.hub.status.allFeed, 'the all feed released');
  await feed.close();
}, 30_000);

test('another API process (its own Redis connections and hub) carries the changes made through the first', async () => {
  const other = await assembleApi(h.config, createLogger('silent'));
  const otherServer = serveApi(other, h.config, { port: 0, hostname: '127.0.0.1' });
  const otherUrl = `ws://127.0.0.1:${otherServer.port}/ws`;
  try {
    const user = await h.signUp();
    const id = await reservedOrder(user.token);
    const c = await connect(otherUrl);
    await c.auth(user.token);
    c.send({ type: 'subscribe', orderId: id });
    await c.next((m) => m.type === 'status', 'status from the other process');
    const feed = await connect(otherUrl);
    await feed.auth(admin.token);
    feed.send({ type: 'subscribe', all: true });
    await eventually(() => other.live.hub.status.allFeed, "the other process's all feed");
    // Paid through the first API; the workers publish; the other process's hub hears it.
    await pay(id, user.token);
    await eventually(
      () => changesOf(c.messages, id).includes('paid->completed'),
      'completed on the other process',
    );
    expect(changesOf(c.messages, id)).toEqual(['reserved->paid', 'paid->completed']);
    await eventually(
      () => changesOf(feed.messages, id).includes('paid->completed'),
      "the other process's all feed",
    );
    expect(h.live.slots.open).toBe(0);
    expect(other.live.slots.open).toBe(2);
  } finally {
    other.live.endAll();
    await otherServer.stop();
    await other.close();
  }
}, 30_000);

test('a connection quiet for longer than the idle timeout still gets the next change', async () => {
  const user = await h.signUp();
  const id = await reservedOrder(user.token);
  const c = await connect();
  await c.auth(user.token);
  c.send({ type: 'subscribe', orderId: id });
  await c.next((m) => m.type === 'status', 'status');
  const polls = h.live.reads.poll;
  await Bun.sleep((IDLE_S + 5) * 1000);
  expect(c.state.closed).toBeUndefined();
  await pay(id, user.token);
  await eventually(
    () => changesOf(c.messages, id).includes('paid->completed'),
    'completed after the quiet time',
  );
  expect(h.live.reads.poll - polls).toBe(0);
  await c.close();
}, 90_000);

test('caps: orders per connection, connections per user (4429) and per process (429 before upgrading)', async () => {
  await eventually(() => h.live.slots.open === 0, 'no connection left from earlier tests');
  const user = await h.signUp();
  const ids = [
    await reservedOrder(user.token),
    await reservedOrder(user.token),
    await reservedOrder(user.token),
    await reservedOrder(user.token),
  ];
  const c = await connect();
  await c.auth(user.token);
  for (const id of ids) c.send({ type: 'subscribe', orderId: id });
  const refused = await c.next((m) => m.type === 'error', 'the fourth subscription refused');
  expect(refused).toMatchObject({ type: 'error', orderId: ids[3], status: 429 });
  await eventually(() => c.messages.filter((m) => m.type === 'status').length === 3, 'three statuses');
  // Unsubscribing frees room on the connection.
  c.send({ type: 'unsubscribe', orderId: ids[0] });
  c.send({ type: 'subscribe', orderId: ids[3] });
  await c.next((m) => m.type === 'status' && m.orderId === ids[3], 'the fourth order after an unsubscribe');

  const second = await connect();
  await second.auth(user.token);
  const third = await connect();
  third.send({ type: 'auth', token: user.token });
  await eventually(() => third.state.closed !== undefined, 'the third connection of one user closed');
  expect(third.state.closed?.code).toBe(4429);

  // Two more users fill the process (4); the next handshake is refused before the upgrade.
  const others = [await h.signUp(), await h.signUp()];
  const more = [await connect(), await connect()];
  await more[0]?.auth((others[0] as { token: string }).token);
  await more[1]?.auth((others[1] as { token: string }).token);
  expect(h.live.slots.open).toBe(4);
  const full = await fetch(srv.wsUrl.replace('ws://', 'http://'), {
    headers: {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    },
  });
  expect(full.status).toBe(429);
  expect(full.headers.get('content-type')).toBe('application/problem+json');

  for (const x of [c, second, ...more]) await x?.close();
  await eventually(() => h.live.slots.open === 0, 'every slot released');
  const plain = await fetch(srv.wsUrl.replace('ws://', 'http://'));
  expect(plain.status).toBe(426);
  expect(plain.headers.get('content-type')).toBe('application/problem+json');
}, 60_000);

/** A client frame (masked, as RFC 6455 requires of clients) carrying one text message. */
function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const head =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, mask, payload.map((b, i) => b ^ (mask[i % 4] as number))]);
}

test('a client that stops reading is dropped, not buffered without bound; a reading one keeps its feed', async () => {
  await eventually(() => h.live.slots.open === 0, 'no connection left from earlier tests');
  const reader = await connect();
  await reader.auth(admin.token);
  reader.send({ type: 'subscribe', all: true });

  // The slow client: a raw socket that authenticates, asks for the all feed, then stops reading.
  const sock = net.connect(srv.server.port as number, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(
    'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let received = '';
  sock.on('data', (d: Buffer) => {
    received += d.toString('latin1');
  });
  await eventually(() => received.includes('101 Switching Protocols'), 'the slow client upgraded');
  sock.write(frame(JSON.stringify({ type: 'auth', token: admin.token })));
  await eventually(() => received.includes('authenticated'), 'the slow client authenticated');
  sock.write(frame(JSON.stringify({ type: 'subscribe', all: true })));
  await eventually(() => h.live.slots.open === 2 && h.live.hub.status.allFeed, 'both on the all feed');
  await Bun.sleep(200);
  sock.pause();

  // Far more than the kernel's socket buffers hold (a few MB on loopback) goes out on the feed.
  const orderId = 'ord_flood';
  const payload = encodeChanges([
    {
      orderId,
      from: 'paid',
      to: 'completed',
      at: new Date().toISOString(),
      reason: 'x'.repeat(4000),
    },
  ]);
  const publisher = h.redis;
  let published = 0;
  // 20 MB at most: the kernel holds a few, so a server that buffers without bound keeps the client.
  while (h.live.slots.open === 2 && published < 5000) {
    const pipeline = publisher.pipeline();
    for (let i = 0; i < 100; i++) pipeline.publish(orderEventsChannel(h.prefix), payload);
    await pipeline.exec();
    published += 100;
    await Bun.sleep(50);
  }
  await eventually(() => h.live.slots.open === 1, 'the slow client dropped', 5000);
  // Dropped for its backlog (1008 "client too slow"), not by the idle timeout: reading again, the
  // slow client finds the server's close frame after what was buffered for it.
  sock.resume();
  await eventually(() => received.includes('client too slow'), 'the close frame naming the backlog', 20_000);
  expect(received.slice(received.indexOf('client too slow') - 2).startsWith('\x03\xf0')).toBe(true);
  // The reading client kept its connection and its feed.
  expect(reader.state.closed).toBeUndefined();
  const seen = reader.messages.filter((m) => m.orderId === orderId).length;
  expect(seen).toBeGreaterThan(0);
  await eventually(
    () => reader.messages.filter((m) => m.orderId === orderId).length === published,
    'every message to the reader',
    20_000,
  );
  sock.destroy();
  await reader.close();
}, 90_000);
