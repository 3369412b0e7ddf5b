import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createApp } from '../api/app';
import { OrderEventHub } from '../api/live';
import { createLogger } from '../lib/logger';
import { openResources, type Resources } from '../lib/resources';
import { createOrderContext, createQueues } from '../lib/wiring';
import { tcpProxy } from './support/faults';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let broken: Resources | undefined;
let hub: OrderEventHub | undefined;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  hub?.close();
  await broken?.close();
  await h.cleanup();
});

test('MySQL lost while running: readiness says so, requests answer 503 problem+json (not 500), and it heals', async () => {
  const proxy = await tcpProxy('mysql://127.0.0.1:3306');
  const dbName = new URL(h.config.DATABASE_URL).pathname;
  const config = { ...h.config, DATABASE_URL: `mysql://root@${new URL(proxy.url).host}${dbName}` };
  broken = await openResources(config, 'producer');
  hub = new OrderEventHub(broken.redis, config.QUEUE_PREFIX);
  const queues = createQueues(config, broken.redis);
  const app = createApp(
    {
      config,
      logger: createLogger('silent'),
      ...broken,
      queues,
      orders: createOrderContext(config, broken.db, broken.redis),
    },
    hub,
  );
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
  const deadline = Date.now() + 10_000;
  let status = 0;
  while (Date.now() < deadline && status !== 200) {
    status = (await app.request('/products')).status;
    if (status !== 200) await Bun.sleep(100);
  }
  expect(status).toBe(200);
  expect((await app.request('/health/ready')).status).toBe(200);
  await queues.close();
});

test('Redis lost while running: readiness says so, orders are still accepted, and it heals', async () => {
  const proxy = await tcpProxy(h.config.REDIS_URL);
  const config = { ...h.config, REDIS_URL: proxy.url };
  const resources = await openResources(config, 'producer');
  const queues = createQueues(config, resources.redis);
  const liveHub = new OrderEventHub(resources.redis, config.QUEUE_PREFIX);
  const app = createApp(
    {
      config,
      logger: createLogger('silent'),
      ...resources,
      queues,
      orders: createOrderContext(config, resources.db, resources.redis),
    },
    liveHub,
  );
  try {
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

    await proxy.restore();
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await app.request('/health/ready')).status;
      if (status !== 200) await Bun.sleep(100);
    }
    expect(status).toBe(200);
  } finally {
    liveHub.close();
    await queues.close();
    await resources.close();
  }
});
