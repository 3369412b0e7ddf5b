import { afterAll, beforeAll, expect, test } from 'bun:test';
import { type AssembledApi, assembleApi } from '../api/start/assemble';
import type { Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { enforceDocumentedStatuses } from './support/documented';
import { tcpProxy } from './support/faults';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers | undefined;
const opened: AssembledApi[] = [];

/** A second API over this test's database and prefix, reaching one service through a proxy. */
async function apiThrough(config: Config) {
  const api = await assembleApi(config, createLogger('silent'));
  enforceDocumentedStatuses(api.app);
  opened.push(api);
  return api.app;
}

const statusOf = async (app: AssembledApi['app'], path: string) => (await app.request(path)).status;

beforeAll(async () => {
  // The reconciler looks often, so an order whose flow could not be queued is picked up in the test.
  h = await createHarness({
    RECONCILE_AFTER_SECONDS: '1',
    RECONCILE_EVERY_MS: '300',
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
  });
});
afterAll(async () => {
  await w?.stop();
  for (const api of opened) await api.close();
  await h.cleanup();
});

test('MySQL lost while running: readiness says so, requests answer 503 problem+json (not 500), and it heals', async () => {
  const proxy = await tcpProxy('mysql://127.0.0.1:3306');
  const dbName = new URL(h.config.DATABASE_URL).pathname;
  const config = { ...h.config, DATABASE_URL: `mysql://root@${new URL(proxy.url).host}${dbName}` };
  const app = await apiThrough(config);
  expect((await app.request('/products')).status).toBe(200);
  expect((await app.request('/health/ready')).status).toBe(200);

  await proxy.cut();

  const res = await app.request('/products');
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as { status: number; detail: string };
  expect(body.status).toBe(503);
  expect(JSON.stringify(body)).not.toContain('    at ');
  const ready = await app.request('/health/ready');
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ checks: { mysql: 'down', redis: 'up' } });

  // MySQL comes back: the same app answers again without a restart.
  await proxy.restore();
  await eventually(
    () => statusOf(app, '/products'),
    (status) => status === 200,
    10_000,
  );
  expect(await statusOf(app, '/health/ready')).toBe(200);
  // Healed means working: an order placed through the same app now goes all the way.
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const product = await s.product(3);
  const placed = await app.request('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ items: [{ productId: product, quantity: 1 }], payment: { token: 'tok_visa' } }),
  });
  expect(placed.status).toBe(202);
  const { id } = (await placed.json()) as { id: string };
  w ??= await startTestWorkers(h, { concurrency: 5 });
  await eventually(
    async () => (await s.order(id)).status,
    (st) => st === 'completed',
    30_000,
  );
  expect(await s.stock(product)).toEqual({ available: 2, reserved: 0 });
}, 60_000);

test('Redis lost while running: readiness says so, orders are still accepted, and it heals', async () => {
  const proxy = await tcpProxy(h.config.REDIS_URL);
  const config = { ...h.config, REDIS_URL: proxy.url };
  const app = await apiThrough(config);
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const product = (await (
    await h.json(
      'POST',
      '/products',
      { sku: 'OUT-1', name: 'x', priceCents: 100, currency: 'EUR', available: 5 },
      admin.token,
    )
  ).json()) as { id: string };
  expect((await app.request('/health/ready')).status).toBe(200);

  await proxy.cut();
  const ready = await app.request('/health/ready');
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ checks: { redis: 'down', mysql: 'up' } });
  // MySQL is the truth: the order is stored and accepted; the reconciler queues it later.
  const placed = await app.request('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({
      items: [{ productId: product.id, quantity: 1 }],
      payment: { token: 'tok_visa' },
    }),
  });
  expect(placed.status).toBe(202);
  const accepted = ((await placed.json()) as { id: string; status: string }).id;

  await proxy.restore();
  await eventually(
    () => statusOf(app, '/health/ready'),
    (status) => status === 200,
    10_000,
  );
  // Healed means the order accepted during the outage is carried out (the reconciler queues it), and
  // one placed now goes straight through.
  const after = await app.request('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({
      items: [{ productId: product.id, quantity: 1 }],
      payment: { token: 'tok_visa' },
    }),
  });
  expect(after.status).toBe(202);
  const later = ((await after.json()) as { id: string }).id;
  w ??= await startTestWorkers(h, { concurrency: 5 });
  const s = shop(h, admin);
  for (const id of [accepted, later]) {
    const o = await eventually(
      () => s.order(id),
      (x) => x.status === 'completed' || x.status === 'failed' || x.status === 'rejected',
      30_000,
    );
    expect({ id, status: o.status }).toEqual({ id, status: 'completed' });
  }
  expect(await s.stock(product.id)).toEqual({ available: 3, reserved: 0 });
}, 60_000);
