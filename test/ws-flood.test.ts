import { heapStats } from 'bun:jsc';
import { afterAll, afterEach, beforeAll, expect, setDefaultTimeout, test } from 'bun:test';
import { tokenSettings } from '../api/deps';
import { LiveTracking } from '../api/live/tracking';
import { WsClose, WsSession, type WsSocket } from '../api/live/ws-session';
import type { Harness } from './support/harness';
import { connectWs, type LiveStack, reservedOrder, startLiveStack } from './support/live';
import { eventually } from './support/workers';

// One socket's messages are budgeted (WS_MESSAGES_PER_SECOND, WS_MESSAGE_BURST), its queue of messages
// waiting to be handled is capped (WS_MAX_QUEUED_MESSAGES, close 1008), and a socket that has not yet
// authenticated holds a place under LIVE_MAX_PER_PROCESS like any other.
// A stack with workers and a real server starts and stops in more than bun's 5 s on a loaded machine.
setDefaultTimeout(60_000);

const RATE = 5;
const BURST = 10;
const MAX_PER_PROCESS = 6;

let stack: LiveStack;
let h: Harness;

beforeAll(async () => {
  stack = await startLiveStack({
    WS_MESSAGES_PER_SECOND: String(RATE),
    WS_MESSAGE_BURST: String(BURST),
    // Room enough that only the budget acts here; the queue cap has a test of its own below.
    WS_MAX_QUEUED_MESSAGES: String(BURST * 5),
    LIVE_MAX_PER_PROCESS: String(MAX_PER_PROCESS),
    WS_AUTH_TIMEOUT_SECONDS: '60',
    MAX_UNPAID_ORDERS: '10',
  });
  h = stack.h;
});
afterAll(async () => {
  await stack?.stop();
});
// A test that fails midway must not leave its sockets holding places for the next one.
const opened: WebSocket[] = [];
afterEach(() => {
  for (const ws of opened.splice(0)) ws.close();
});
const connect = async () => {
  const c = await connectWs(stack.srv.wsUrl);
  opened.push(c.ws);
  return c;
};

const totalReads = () => Object.values(h.live.reads).reduce((a, b) => a + b, 0);
const randomId = () => `ord_${crypto.randomUUID().replaceAll('-', '')}`;

test('a socket flooded with subscribe/unsubscribe and random ids costs bounded reads and memory; another user is unaffected', async () => {
  const flooder = await h.signUp();
  const bystander = await h.signUp();
  const mine = await reservedOrder(stack.s, flooder.token);
  const theirs = await reservedOrder(stack.s, bystander.token);

  const b = await connect();
  await b.auth(bystander.token);
  b.send({ type: 'subscribe', orderId: theirs });
  await b.next((m) => m.type === 'status' && m.orderId === theirs, 'bystander status');

  const a = await connect();
  await a.auth(flooder.token);

  Bun.gc(true);
  const heapBefore = heapStats().heapSize;
  const readsBefore = totalReads();
  const receivedBefore = h.live.wsMessages.received;
  const started = Date.now();
  // Each message padded near the server's 16 KiB frame limit: a server that keeps them queued shows it.
  const pad = 'x'.repeat(12 * 1024);
  const N = 3000;
  for (let i = 0; i < N; i++) {
    const kind = i % 3;
    if (kind === 0) a.send({ type: 'subscribe', orderId: mine, pad });
    else if (kind === 1) a.send({ type: 'unsubscribe', orderId: mine, pad });
    else a.send({ type: 'subscribe', orderId: randomId(), pad });
  }
  await eventually(
    () => h.live.wsMessages.received - receivedBefore >= N || a.state.closed !== undefined,
    'the flood to reach the server',
    60_000,
  );
  Bun.gc(true);
  const heapGrowth = heapStats().heapSize - heapBefore;

  // While the flood is being handled, the bystander's order changes and the bystander hears it.
  const paid = await h.json('POST', '/payment', { orderId: theirs, token: 'tok_visa' }, bystander.token);
  expect(paid.status).toBe(202);
  await b.next(
    (m) => m.type === 'change' && m.orderId === theirs && m.to === 'completed',
    'bystander sees its order complete',
    15_000,
  );
  expect(b.state.closed).toBeUndefined();

  // Reads: at most two per accepted subscribe (the owner check and the follower's first read).
  const seconds = (Date.now() - started) / 1000;
  const accepted = BURST + Math.ceil(RATE * seconds);
  expect(totalReads() - readsBefore).toBeLessThanOrEqual(2 * accepted + 4);
  expect(h.live.wsMessages.refused).toBeGreaterThan(N / 2);
  // 3000 × 12 KiB is 36 MiB: kept in a queue it would show; refused at once it does not.
  expect(heapGrowth).toBeLessThan(12 * 1024 * 1024);

  // The flooder was told once per spell of refusals, not once per message, and may go on afterwards.
  const refusals = a.messages.filter(
    (m) => m.type === 'error' && m.status === 429 && m.orderId === undefined,
  );
  expect(refusals.length).toBeGreaterThanOrEqual(1);
  expect(refusals.length).toBeLessThan(10);
  expect(a.state.closed).toBeUndefined();
  const before = a.messages.length;
  await eventually(
    async () => {
      a.send({ type: 'unsubscribe', orderId: mine });
      a.send({ type: 'subscribe', orderId: mine });
      await Bun.sleep(500);
      return a.messages.slice(before).some((m) => m.type === 'status' && m.orderId === mine);
    },
    'the flooder to be served again once its budget refills',
    15_000,
  );
  await a.close();
  await b.close();
}, 120_000);

test('past WS_MAX_QUEUED_MESSAGES waiting to be handled the socket is closed with 1008', async () => {
  // A session of its own whose budget lets everything through, so that only the queue cap acts.
  const live = new LiveTracking(
    h.redis,
    { ...h.config, WS_MESSAGE_BURST: 1000, WS_MAX_QUEUED_MESSAGES: 5 },
    h.deps.metrics,
  );
  const user = await h.signUp();
  const sent: string[] = [];
  let closed: number | undefined;
  const socket: WsSocket = {
    send: (m) => {
      sent.push(String(m));
      return 1;
    },
    close: (code?: number) => {
      closed = code;
    },
    ping: () => 1,
    getBufferedAmount: () => 0,
  };
  const session = new WsSession(socket, {
    db: h.db,
    live,
    tokens: tokenSettings(h.deps),
    logger: h.deps.logger,
  });
  session.opened();
  session.received(JSON.stringify({ type: 'auth', token: user.token }));
  await eventually(() => sent.some((m) => m.includes('authenticated')), 'authenticated');
  // Delivered in one go, as one TCP read of many frames is: each subscribe waits for a MySQL read.
  for (let i = 0; i < 50; i++) session.received(JSON.stringify({ type: 'subscribe', orderId: randomId() }));
  expect(closed).toBe(WsClose.tooSlow);
  session.ended();
  live.close();
});

test('sockets that have not authenticated count toward LIVE_MAX_PER_PROCESS', async () => {
  await eventually(() => h.live.slots.open === 0, 'earlier sockets released');
  const silent = [];
  for (let i = 0; i < MAX_PER_PROCESS; i++) silent.push(await connect());
  // The process is full of silent sockets: the next handshake is refused.
  await expect(connectWs(stack.srv.wsUrl)).rejects.toThrow('did not open');
  for (const s of silent) await s.close();
  await eventually(() => h.live.slots.open === 0, 'silent sockets released');
  const user = await h.signUp();
  const c = await connectWs(stack.srv.wsUrl);
  await c.auth(user.token);
  await c.close();
}, 60_000);
