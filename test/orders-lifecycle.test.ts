import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { QueueName } from '../queues/contract';
import { createGateway } from '../wiring/adapters';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { CountingGateway, CountingTransports } from './support/stand-ins';
import { drained, eventually, startTestWorkers, type TestWorkers } from './support/workers';

// Workers are started per test with only the queues that test needs, so an order can be caught in
// the state the test wants to cancel it in.
let h: Harness;
let admin: { token: string };
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;
let running: TestWorkers | undefined;

beforeAll(async () => {
  h = await createHarness({
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
    RESERVATION_TTL_SECONDS: '1',
    RECONCILE_EVERY_MS: '200',
    RECONCILE_AFTER_SECONDS: '600',
  });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
});
afterAll(async () => {
  await running?.stop();
  await h.cleanup();
});

// What the workers' gateway and providers were asked, over the whole file.
let gateway: CountingGateway;
const transports = new CountingTransports();
let runningQueues: QueueName[] = [];

async function withWorkers(queues: QueueName[], fn: () => Promise<void>) {
  gateway ??= new CountingGateway(createGateway(h.config, h.db));
  running = await startTestWorkers(h, { queues, concurrency: 5, gateway, transports });
  runningQueues = queues;
  try {
    await fn();
  } finally {
    await running.stop();
    running = undefined;
    runningQueues = [];
  }
}

const cancel = (id: string, token = user.token) => h.json('PUT', `/orders/${id}/cancel`, undefined, token);

/** Waits until the customer's email about this order reached the provider; returns every one sent. */
async function emailsAbout(id: string) {
  await eventually(
    async () => transports.of(id, 'email').length,
    (n) => n > 0,
  );
  // Nothing left that could send a duplicate: every job of the running workers' queues drained.
  // (The maintenance queue keeps its schedule: never empty.)
  await drained(
    h.deps.queues,
    () => true,
    30_000,
    runningQueues.filter((q) => q !== 'maintenance'),
  );
  return transports.of(id, 'email').map((m) => m.text);
}

/** Every order the API lists for this user (one page is enough here). */
async function ordersOf(who: { id: string; token: string }) {
  const res = await h.json('GET', `/orders/user/${who.id}?limit=100`, undefined, who.token);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { id: string; items: { quantity: number }[] }[] }).data;
}

describe('cancel', () => {
  test('while pending: cancelled, nothing reserved, and the saga then does nothing', async () => {
    const p = await s.product(5);
    const placed = (await (await s.place(user.token, p, 2)).json()) as { id: string };
    const { id } = placed;
    // The 202 answer is the order exactly as stored.
    expect(await s.order(id)).toEqual(placed as Awaited<ReturnType<typeof s.order>>);
    const res = await cancel(id);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('cancelled');
    await withWorkers(['reserve', 'charge', 'notify', 'deliver'], async () => {
      // Told once, that it was cancelled.
      expect(await emailsAbout(id)).toEqual([expect.stringContaining('has been cancelled')]);
    });
    const o = await s.order(id);
    expect(o.status).toBe('cancelled');
    expect(o.events.map((e) => e.to)).toEqual(['pending', 'cancelled']);
    expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
    expect((await s.payment(id)).transactions).toHaveLength(0);
    expect(gateway.chargeCalls(id)).toBe(0);
  });

  test('while reserved: the stock is released', async () => {
    const p = await s.product(5);
    const { id } = (await (await s.place(user.token, p, 2, null)).json()) as { id: string };
    await withWorkers(['reserve'], async () => {
      await eventually(
        () => s.order(id),
        (o) => o.status === 'reserved',
      );
    });
    expect(await s.stock(p)).toEqual({ available: 3, reserved: 2 });
    expect((await cancel(id)).status).toBe(200);
    expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
    expect((await s.order(id)).events.map((e) => e.to)).toEqual(['pending', 'reserved', 'cancelled']);
  });

  test('while paid: refunded, then released', async () => {
    const p = await s.product(5, 999);
    const { id } = (await (await s.place(user.token, p, 2)).json()) as { id: string };
    await withWorkers(['reserve', 'charge'], async () => {
      await eventually(
        () => s.order(id),
        (o) => o.status === 'paid',
      );
    });
    expect(await s.stock(p)).toEqual({ available: 3, reserved: 2 });
    const res = await cancel(id, admin.token);
    expect(res.status).toBe(200);
    expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
    const pay = await s.payment(id);
    expect(pay.status).toBe('refunded');
    expect(pay.transactions.map((t) => [t.type, t.amountCents])).toEqual([
      ['charge', 1998],
      ['refund', 1998],
    ]);
    // The saga's notify step now finds a cancelled order: it tells the customer and completes nothing.
    await withWorkers(['notify', 'deliver'], async () => {
      expect(await emailsAbout(id)).toEqual([expect.stringContaining('has been cancelled')]);
    });
    expect((await s.order(id)).status).toBe('cancelled');
    expect(gateway.chargeCalls(id)).toBe(1);
    expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
    expect((await cancel(id)).status).toBe(409);
  });
});

describe('reservation hold', () => {
  test('an unpaid order whose hold expires is cancelled as reservation_expired, stock released', async () => {
    const p = await s.product(3);
    const { id } = (await (await s.place(user.token, p, 3, null)).json()) as { id: string };
    await withWorkers(['reserve', 'notify', 'deliver', 'maintenance'], async () => {
      const o = await eventually(
        () => s.order(id),
        (x) => x.status === 'cancelled',
        15_000,
      );
      expect(o.failureReason).toBe('reservation_expired');
      expect(o.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'cancelled']);
      expect(await emailsAbout(id)).toEqual([expect.stringContaining('was not paid in time')]);
    });
    expect(await s.stock(p)).toEqual({ available: 3, reserved: 0 });
    expect((await h.json('POST', '/payment', { orderId: id, token: 'tok_visa' }, user.token)).status).toBe(
      409,
    );
  });
});

describe('idempotency', () => {
  test('50 concurrent identical POST /orders with one Idempotency-Key create one order', async () => {
    // A fresh buyer: what they own afterwards is what those 50 requests created.
    const buyer = await h.signUp('user');
    const p = await s.product(100);
    const key = `key-${crypto.randomUUID()}`;
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => s.place(buyer.token, p, 1, 'tok_visa', { 'idempotency-key': key })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((st) => st === 202 || st === 200 || st === 409)).toBe(true);
    expect(statuses.filter((st) => st === 202)).toHaveLength(1);
    const ids = new Set(
      await Promise.all(
        responses.filter((r) => r.status !== 409).map(async (r) => ((await r.json()) as { id: string }).id),
      ),
    );
    expect(ids.size).toBe(1);
    const id = [...ids][0] as string;
    // The buyer owns one order (a unique key could not hide a second one made without the key).
    expect((await ordersOf(buyer)).map((o) => o.id)).toEqual([id]);
    // A later retry returns the same order.
    const later = await s.place(buyer.token, p, 1, 'tok_visa', { 'idempotency-key': key });
    expect(later.status).toBe(200);
    expect(((await later.json()) as { id: string }).id).toBe(id);
    // And it is carried out once: one unit of stock, one charge call at the gateway.
    const gateway = new CountingGateway(createGateway(h.config, h.db));
    running = await startTestWorkers(h, { concurrency: 5, gateway });
    try {
      await eventually(
        () => s.order(id),
        (o) => o.status === 'completed',
      );
    } finally {
      await running.stop();
      running = undefined;
    }
    expect(gateway.totalCharges()).toBe(1);
    expect(gateway.chargeCalls(id)).toBe(1);
    expect(await s.stock(p)).toEqual({ available: 99, reserved: 0 });
  });

  test('the same key with a different body is 422 and creates nothing', async () => {
    const buyer = await h.signUp('user');
    const p = await s.product(10);
    const key = `key-${crypto.randomUUID()}`;
    expect((await s.place(buyer.token, p, 1, 'tok_visa', { 'idempotency-key': key })).status).toBe(202);
    const res = await s.place(buyer.token, p, 2, 'tok_visa', { 'idempotency-key': key });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const owned = await ordersOf(buyer);
    expect(owned.map((o) => o.items.map((i) => i.quantity))).toEqual([[1]]);
  });

  test('the same key from another user is another order', async () => {
    const p = await s.product(10);
    const key = `key-${crypto.randomUUID()}`;
    const other = await h.signUp('user');
    const a = (await (await s.place(user.token, p, 1, 'tok_visa', { 'idempotency-key': key })).json()) as {
      id: string;
    };
    const b = (await (await s.place(other.token, p, 1, 'tok_visa', { 'idempotency-key': key })).json()) as {
      id: string;
    };
    expect(a.id).not.toBe(b.id);
  });
});

describe('placing orders: bad input stores nothing', () => {
  test.each([
    ['no items', { items: [] }, 400],
    ['quantity 0', { items: [{ productId: 'prd_x', quantity: 0 }] }, 400],
    ['quantity 1001', { items: [{ productId: 'prd_x', quantity: 1001 }] }, 400],
    ['fractional quantity', { items: [{ productId: 'prd_x', quantity: 1.5 }] }, 400],
    ['quantity as string', { items: [{ productId: 'prd_x', quantity: '1' }] }, 400],
    ['a price from the client', { items: [{ productId: 'prd_x', quantity: 1, unitPriceCents: 1 }] }, 400],
    [
      '101 items',
      { items: Array.from({ length: 101 }, (_, i) => ({ productId: `prd_${i}`, quantity: 1 })) },
      400,
    ],
    [
      'a product twice',
      {
        items: [
          { productId: 'prd_x', quantity: 1 },
          { productId: 'prd_x', quantity: 2 },
        ],
      },
      400,
    ],
    ['an unknown product', { items: [{ productId: 'prd_unknown', quantity: 1 }] }, 422],
    [
      'a bad card token',
      { items: [{ productId: 'prd_x', quantity: 1 }], payment: { token: '4242424242424242' } },
      400,
    ],
  ])('%s', async (_name, body, status) => {
    const [before] = await h.pool.query('SELECT COUNT(*) AS n FROM orders');
    const res = await h.json('POST', '/orders', body, user.token);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const [after] = await h.pool.query('SELECT COUNT(*) AS n FROM orders');
    expect(after).toEqual(before);
  });

  test('orders of a user page newest first with a cursor', async () => {
    const buyer = await h.signUp('user');
    const p = await s.product(10);
    const placed: string[] = [];
    for (let i = 0; i < 5; i++)
      placed.push(((await (await s.place(buyer.token, p, 1)).json()) as { id: string }).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const res = await h.json('GET', `/orders/user/${buyer.id}?limit=2${q}`, undefined, buyer.token);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { data: { id: string }[]; nextCursor: string | null };
      seen.push(...page.data.map((o) => o.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...placed].reverse());
    expect((await h.json('GET', `/orders/user/${buyer.id}?limit=101`, undefined, buyer.token)).status).toBe(
      400,
    );
  });
});
