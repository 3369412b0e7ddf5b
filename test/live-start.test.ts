import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { followSse } from './support/live';
import { shop } from './support/shop';
import { eventually } from './support/workers';

// `bun run start` itself (scripts/start.ts: API and workers in one process), with the default
// live-tracking settings, on this test's database and Redis prefix.
let h: Harness;
let proc: ReturnType<typeof Bun.spawn> | undefined;
let api = '';
let output = '';

beforeAll(async () => {
  h = await createHarness();
  proc = Bun.spawn([process.execPath, 'run', 'scripts/start.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      DATABASE_URL: h.config.DATABASE_URL,
      REDIS_URL: h.config.REDIS_URL,
      QUEUE_PREFIX: h.prefix,
      JWT_SECRET: h.config.jwtSecret,
      LOG_LEVEL: 'info',
      RATE_LIMITS: 'off',
      SHUTDOWN_GRACE_MS: '2000',
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  // Drain its output for as long as it runs (a full pipe would stall the process).
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) output += decoder.decode(chunk);
  })();
  await eventually(
    () => /API listening on http:\/\/localhost:\d+/.test(output),
    'bun run start listening',
    30_000,
  );
  api = `http://127.0.0.1:${/API listening on http:\/\/localhost:(\d+)/.exec(output)?.[1]}`;
}, 40_000);
afterAll(async () => {
  proc?.kill('SIGKILL');
  await proc?.exited;
  await h.cleanup();
});

test('`bun run start` keeps a quiet SSE stream and WebSocket open past Bun’s default 10 s, delivers the payment, and stops with them open', async () => {
  const admin = await h.signUp('admin');
  const user = await h.signUp();
  const s = shop(h, admin);
  const p = await s.product(5);
  const { id } = (await (await s.place(user.token, p, 1, null)).json()) as { id: string };
  await eventually(async () => (await s.order(id)).status === 'reserved', 'reserved by the started workers');

  const sse = followSse(
    await fetch(`${api}/orders/${id}/events`, { headers: { authorization: `Bearer ${user.token}` } }),
  );
  const ws = new WebSocket(`${api.replace('http', 'ws')}/ws`);
  const messages: Record<string, unknown>[] = [];
  let closed: number | undefined;
  ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)) as Record<string, unknown>);
  ws.onclose = (e) => {
    closed = e.code;
  };
  await new Promise((resolve) => {
    ws.onopen = resolve;
  });
  ws.send(JSON.stringify({ type: 'auth', token: user.token }));
  ws.send(JSON.stringify({ type: 'subscribe', orderId: id }));
  await eventually(
    () => sse.state.events.length === 1 && messages.some((m) => m.type === 'status'),
    'both open',
  );

  await Bun.sleep(13_000);
  expect(sse.state.ended).toBe(false);
  expect(closed).toBeUndefined();

  const paid = await fetch(`${api}/payment`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ orderId: id, token: 'tok_visa' }),
  });
  expect(paid.status).toBe(202);
  await eventually(() => sse.state.ended, 'the stream to end after completed');
  expect(sse.state.events.filter((e) => e.event === 'change').map((e) => e.data.to)).toEqual([
    'paid',
    'completed',
  ]);
  await eventually(
    () => messages.filter((m) => m.type === 'change').length === 2,
    'both changes on the socket',
  );

  // SIGTERM with a socket open: the server ends it (1001) instead of waiting for it, and exits.
  const stopping = Date.now();
  proc?.kill('SIGTERM');
  expect(await proc?.exited).toBe(0);
  expect(Date.now() - stopping).toBeLessThan(15_000);
  await eventually(() => closed !== undefined, 'the socket closed');
  expect(closed).toBe(1001);
}, 60_000);
