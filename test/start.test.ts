import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Redis } from 'ioredis';
import { dropDatabase } from '../db/migrate';
import { uniqueSuffix } from './support/harness';
import { freePort } from './support/processes';

// `bun run start` as a user runs it: the real script, on a free port, with its own database, its own
// prefix and a Redis of its own (started here on a free port), so every key it writes can be seen.

const root = new URL('..', import.meta.url).pathname;
const suffix = uniqueSuffix();
const prefix = `oftest_${suffix}`;
const databaseUrl = `${process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'}/oftest_${suffix}`;
const adminEmail = `root_${suffix}@example.test`;
const adminPassword = 'bootstrap passphrase 0123';

let redisServer: ReturnType<typeof Bun.spawn> | undefined;
let redis: Redis;
let redisUrl: string;
let app: ReturnType<typeof Bun.spawn> | undefined;
let stderr = '';

beforeAll(async () => {
  const port = await freePort();
  redisServer = Bun.spawn(
    ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdout: 'ignore', stderr: 'ignore' },
  );
  redisUrl = `redis://127.0.0.1:${port}`;
  redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  for (let i = 0; i < 100; i++) {
    if (await redis.ping().catch(() => null)) break;
    await Bun.sleep(50);
  }
});

afterAll(async () => {
  if (app && app.exitCode === null) app.kill('SIGKILL');
  await app?.exited;
  redis?.disconnect();
  redisServer?.kill('SIGTERM');
  await redisServer?.exited;
  await dropDatabase(databaseUrl);
});

test('bun run start: admin bootstrap, an order to completed, every Redis key under the prefix, SIGTERM exits', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  app = Bun.spawn([process.execPath, 'run', 'start'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      JWT_SECRET: 'start-test-secret-start-test-secret-0123',
      ADMIN_EMAIL: adminEmail,
      ADMIN_PASSWORD: adminPassword,
      EMAIL_RATE_MAX: '100',
    },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  const proc = app;
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr += decoder.decode(chunk);
  })();

  let ready = 0;
  for (let i = 0; i < 300 && ready !== 200; i++) {
    if (proc.exitCode !== null) throw new Error(`bun run start exited ${proc.exitCode}:\n${stderr}`);
    ready = await fetch(`${base}/health/ready`)
      .then((r) => r.status)
      .catch(() => 0);
    if (ready !== 200) await Bun.sleep(100);
  }
  expect(ready).toBe(200);

  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    return fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  };
  const login = async (email: string, password: string) => {
    const res = await call('POST', '/auth/login', { email, password });
    expect(res.status).toBe(200);
    return ((await res.json()) as { accessToken: string }).accessToken;
  };

  // ADMIN_EMAIL/ADMIN_PASSWORD made an admin: it can sign in and do what only an admin may.
  const adminToken = await login(adminEmail, adminPassword);
  const created = await call(
    'POST',
    '/products',
    { sku: `START-${suffix}`, name: 'Started', priceCents: 1200, currency: 'EUR', available: 5 },
    adminToken,
  );
  expect(created.status).toBe(201);
  const product = ((await created.json()) as { id: string }).id;
  expect((await call('GET', '/system/workers', undefined, adminToken)).status).toBe(200);

  // A customer registers, signs in and orders; the workers in the same process carry it out.
  const email = `buyer_${suffix}@example.test`;
  expect(
    (await call('POST', '/auth/register', { email, password: 'buyer passphrase 01', name: 'B' })).status,
  ).toBe(201);
  const buyer = await login(email, 'buyer passphrase 01');
  // A customer is not an admin.
  expect((await call('GET', '/system/workers', undefined, buyer)).status).toBe(403);
  const placed = await call(
    'POST',
    '/orders',
    { items: [{ productId: product, quantity: 2 }], payment: { token: 'tok_visa' } },
    buyer,
  );
  expect(placed.status).toBe(202);
  const id = ((await placed.json()) as { id: string }).id;
  let status = '';
  for (let i = 0; i < 300 && status !== 'completed'; i++) {
    status = ((await (await call('GET', `/orders/${id}`, undefined, buyer)).json()) as { status: string })
      .status;
    if (status !== 'completed') await Bun.sleep(100);
  }
  expect(status).toBe('completed');
  expect(await (await call('GET', `/inventory/${product}`, undefined, buyer)).json()).toMatchObject({
    available: 3,
    reserved: 0,
  });
  const pay = (await (await call('GET', `/payment/status/${id}`, undefined, buyer)).json()) as {
    status: string;
  };
  expect(pay.status).toBe('succeeded');
  // More of what a deployment does, so the key check below sees it: an order paid later, one
  // cancelled, a message sent by an admin, the dashboard opened with Basic auth.
  const later = async () => {
    const res = await call('POST', '/orders', { items: [{ productId: product, quantity: 1 }] }, buyer);
    expect(res.status).toBe(202);
    const laterId = ((await res.json()) as { id: string }).id;
    for (let i = 0; i < 300; i++) {
      const st = (
        (await (await call('GET', `/orders/${laterId}`, undefined, buyer)).json()) as { status: string }
      ).status;
      if (st === 'reserved') break;
      await Bun.sleep(100);
    }
    return laterId;
  };
  const toPay = await later();
  expect((await call('POST', '/payment', { orderId: toPay, token: 'tok_visa' }, buyer)).status).toBe(202);
  const toCancel = await later();
  expect((await call('PUT', `/orders/${toCancel}/cancel`, undefined, buyer)).status).toBe(200);
  expect(
    (
      await call(
        'POST',
        '/notify/email',
        { to: 'ops@example.test', subject: 'Hi', text: 'From start' },
        adminToken,
      )
    ).status,
  ).toBe(202);
  const basic = `Basic ${Buffer.from(`${adminEmail}:${adminPassword}`).toString('base64')}`;
  expect((await fetch(`${base}/admin/queues`, { headers: { authorization: basic } })).status).toBe(200);
  let paid = '';
  for (let i = 0; i < 300 && paid !== 'completed'; i++) {
    paid = ((await (await call('GET', `/orders/${toPay}`, undefined, buyer)).json()) as { status: string })
      .status;
    if (paid !== 'completed') await Bun.sleep(100);
  }
  expect(paid).toBe('completed');
  // Let the outcome emails go out through the deliver queue.
  await Bun.sleep(1000);

  // Every key the app wrote (queues, cache, rate limits, worker registry, events) is under its prefix.
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  expect(keys.length).toBeGreaterThan(10);
  expect(keys.filter((k) => !k.startsWith(`${prefix}:`))).toEqual([]);

  // SIGTERM: the process stops serving and exits 0 on its own.
  proc.kill('SIGTERM');
  const code = await Promise.race([proc.exited, Bun.sleep(20_000).then(() => 'still running')]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  expect(
    await fetch(`${base}/health/live`)
      .then((r) => r.status)
      .catch(() => 'refused'),
  ).toBe('refused');
}, 90_000);
