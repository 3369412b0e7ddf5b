import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

// An order without payment holds stock from everyone else until it expires: one account may keep only
// MAX_UNPAID_ORDERS (default 3) of them, each of at most MAX_UNPAID_UNITS units (default 100).
let h: Harness;
let s: ReturnType<typeof shop>;
let product: string;

beforeAll(async () => {
  h = await createHarness();
  const admin = await h.signUp('admin');
  s = shop(h, admin);
  product = await s.product(100_000);
});
afterAll(async () => {
  await h.cleanup();
});

async function ordersOf(userId: string) {
  const [rows] = await h.pool.query('SELECT id, payment_token AS token FROM orders WHERE user_id = ?', [
    userId,
  ]);
  return rows as { id: string; token: string | null }[];
}

async function expectProblem(res: Response, status: number, field: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as { status: number; detail: string; errors?: { field: string }[] };
  expect(body.status).toBe(status);
  expect(body.errors?.map((e) => e.field)).toContain(field);
}

describe('unpaid orders per user', () => {
  test('10 parallel POST /orders without payment: exactly 3 accepted, the rest 409', async () => {
    const buyer = await h.signUp('user');
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => s.place(buyer.token, product, 1, null)),
    );
    const codes = answers.map((r) => r.status).sort();
    expect(codes).toEqual([202, 202, 202, 409, 409, 409, 409, 409, 409, 409]);
    for (const res of answers.filter((r) => r.status === 409)) await expectProblem(res, 409, 'payment');
    expect(await ordersOf(buyer.id)).toHaveLength(3);
  }, 30_000);

  test('at the cap: an order with payment is still accepted; a cancel frees a slot', async () => {
    const buyer = await h.signUp('user');
    const held: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await s.place(buyer.token, product, 1, null);
      expect(res.status).toBe(202);
      held.push(((await res.json()) as { id: string }).id);
    }
    await expectProblem(await s.place(buyer.token, product, 1, null), 409, 'payment');
    // Paying up front holds nothing unpaid.
    expect((await s.place(buyer.token, product, 1, 'tok_visa')).status).toBe(202);
    // Another user is not affected by this one's holds.
    const other = await h.signUp('user');
    expect((await s.place(other.token, product, 1, null)).status).toBe(202);
    // Cancelling one unpaid order makes room for one more.
    expect((await h.json('PUT', `/orders/${held[0]}/cancel`, undefined, buyer.token)).status).toBe(200);
    expect((await s.place(buyer.token, product, 1, null)).status).toBe(202);
    await expectProblem(await s.place(buyer.token, product, 1, null), 409, 'payment');
    expect((await ordersOf(buyer.id)).filter((o) => o.token === null)).toHaveLength(4);
  }, 30_000);

  test('a replayed Idempotency-Key at the cap returns its order, not 409', async () => {
    const buyer = await h.signUp('user');
    const key = { 'idempotency-key': `hold-${crypto.randomUUID()}` };
    const first = await s.place(buyer.token, product, 1, null, key);
    expect(first.status).toBe(202);
    for (let i = 0; i < 2; i++) expect((await s.place(buyer.token, product, 1, null)).status).toBe(202);
    const replay = await s.place(buyer.token, product, 1, null, key);
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { id: string }).id).toBe(((await first.json()) as { id: string }).id);
    expect(await ordersOf(buyer.id)).toHaveLength(3);
  }, 30_000);
});

describe('units one unpaid order may hold', () => {
  test('more than MAX_UNPAID_UNITS in all without payment is 422 on items, and stores nothing', async () => {
    const buyer = await h.signUp('user');
    const second = await s.product(1000);
    const body = {
      items: [
        { productId: product, quantity: 60 },
        { productId: second, quantity: 41 },
      ],
    };
    await expectProblem(await h.json('POST', '/orders', body, buyer.token), 422, 'items');
    expect(await ordersOf(buyer.id)).toHaveLength(0);
    // 100 units is the bound itself: accepted.
    const fits = {
      items: [
        { productId: product, quantity: 60 },
        { productId: second, quantity: 40 },
      ],
    };
    expect((await h.json('POST', '/orders', fits, buyer.token)).status).toBe(202);
    // With payment the order is not held unpaid: the usual bounds apply (1,000 a line).
    const paid = { ...body, payment: { token: 'tok_visa' } };
    expect((await h.json('POST', '/orders', paid, buyer.token)).status).toBe(202);
    expect(await ordersOf(buyer.id)).toHaveLength(2);
  }, 30_000);
});
