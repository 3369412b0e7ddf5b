import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { createOrderflowClient, type OrderflowClient } from '../client';
import { createHarness, type Harness } from './support/harness';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

const ROOT = join(import.meta.dir, '..');
const SCHEMA = join(ROOT, 'client', 'openapi.ts');

describe('client/openapi.ts', () => {
  test('matches what the current OpenAPI document generates', async () => {
    // The generator runs as `bun run client:generate` does, in its own process, printing instead of writing.
    const proc = Bun.spawn(['bun', 'run', 'scripts/client-generate.ts', '--stdout'], {
      cwd: ROOT,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [generated, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(generated).toContain('export interface paths');
    const committed = await Bun.file(SCHEMA).text();
    if (generated !== committed) {
      const a = committed.split('\n');
      const b = generated.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      throw new Error(
        'client/openapi.ts is stale: the API changed since it was generated. Run `bun run client:generate` ' +
          `and commit client/openapi.ts.\nFirst difference at line ${line + 1}:\n  committed: ${a[line]}\n  generated: ${b[line]}`,
      );
    }
  }, 30_000);
});

describe('an order through the typed client, against a live server', () => {
  let h: Harness;
  let w: TestWorkers;
  let server: ReturnType<typeof Bun.serve>;
  let api: OrderflowClient;
  let admin: { email: string };

  beforeAll(async () => {
    h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });
    admin = await h.signUp('admin');
    w = await startTestWorkers(h, { concurrency: 5 });
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: h.app.fetch });
    api = createOrderflowClient(`http://127.0.0.1:${server.port}`);
  });
  afterAll(async () => {
    await server?.stop(true);
    await w?.stop();
    await h?.cleanup();
  });

  test('login, product, order with an Idempotency-Key, timeline, payment status, cancel', async () => {
    const login = await api.POST('/auth/login', {
      body: { email: admin.email, password: 'correct horse battery' },
    });
    expect(login.response.status).toBe(200);
    if (!login.data) throw new Error(`login failed: ${JSON.stringify(login.error)}`);
    expect(login.data.tokenType).toBe('Bearer');
    api.setToken(login.data.accessToken);

    const product = await api.POST('/products', {
      body: {
        sku: `MUG-${crypto.randomUUID().slice(0, 8)}`,
        name: 'Mug',
        priceCents: 1200,
        currency: 'EUR',
        available: 10,
      },
    });
    expect(product.response.status).toBe(201);
    if (!product.data) throw new Error(JSON.stringify(product.error));
    const productId = product.data.id;

    const body = { items: [{ productId, quantity: 2 }], payment: { token: 'tok_visa' } };
    const key = `story-${crypto.randomUUID()}`;
    const placed = await api.POST('/orders', { body, params: { header: { 'idempotency-key': key } } });
    expect(placed.response.status).toBe(202);
    if (!placed.data) throw new Error(JSON.stringify(placed.error));
    expect(placed.data.status).toBe('pending');
    expect(placed.data.totalCents).toBe(2400);
    const orderId = placed.data.id;

    // The same key again: the first order, not a second one.
    const replay = await api.POST('/orders', { body, params: { header: { 'idempotency-key': key } } });
    expect(replay.response.status).toBe(200);
    expect(replay.data?.id).toBe(orderId);

    const done = await eventually(
      async () => (await api.GET('/orders/{id}', { params: { path: { id: orderId } } })).data,
      (o) => o?.status === 'completed',
    );
    expect(done?.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'paid', 'completed']);

    const payment = await api.GET('/payment/status/{orderId}', { params: { path: { orderId } } });
    expect(payment.response.status).toBe(200);
    expect(payment.data).toMatchObject({ orderId, status: 'succeeded', amountCents: 2400, currency: 'EUR' });
    expect(payment.data?.transactions.map((t) => [t.type, t.amountCents])).toEqual([['charge', 2400]]);

    const stock = await api.GET('/inventory/{productId}', { params: { path: { productId } } });
    expect(stock.data).toEqual({ productId, available: 8, reserved: 0 });

    // A completed order cannot be cancelled: the answer is a typed problem, not a throw.
    const late = await api.PUT('/orders/{id}/cancel', { params: { path: { id: orderId } } });
    expect(late.response.status).toBe(409);
    expect(late.error?.status).toBe(409);

    // One without payment waits in `reserved`; cancelling it gives the stock back.
    const unpaid = await api.POST('/orders', { body: { items: [{ productId, quantity: 3 }] } });
    expect(unpaid.response.status).toBe(202);
    const unpaidId = unpaid.data?.id ?? '';
    await eventually(
      async () => (await api.GET('/orders/{id}', { params: { path: { id: unpaidId } } })).data?.status,
      (s) => s === 'reserved',
    );
    const cancelled = await api.PUT('/orders/{id}/cancel', { params: { path: { id: unpaidId } } });
    expect(cancelled.response.status).toBe(200);
    expect(cancelled.data?.status).toBe('cancelled');
    const after = await api.GET('/inventory/{productId}', { params: { path: { productId } } });
    expect(after.data).toEqual({ productId, available: 8, reserved: 0 });
  }, 60_000);

  test('without a token the client gets the 401 problem', async () => {
    const anonymous = createOrderflowClient(`http://127.0.0.1:${server.port}/`);
    const res = await anonymous.GET('/orders/{id}', { params: { path: { id: 'ord_nope' } } });
    expect(res.response.status).toBe(401);
    expect(res.error?.status).toBe(401);
    expect(res.response.headers.get('content-type')).toContain('application/problem+json');
  });
});
