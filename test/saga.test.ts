import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers;
let admin: { token: string };
let user: { id: string; token: string };

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });
  w = await startTestWorkers(h);
  admin = await h.signUp('admin');
  user = await h.signUp('user', '+14155550123');
});
afterAll(async () => {
  await w.stop();
  await h.cleanup();
});

async function product(available: number, priceCents = 1500) {
  const res = await h.json(
    'POST',
    '/products',
    { sku: `SKU-${crypto.randomUUID().slice(0, 8)}`, name: 'Thing', priceCents, currency: 'EUR', available },
    admin.token,
  );
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const stock = async (id: string) =>
  (await (await h.json('GET', `/inventory/${id}`, undefined, user.token)).json()) as {
    available: number;
    reserved: number;
  };
const order = async (id: string, token = user.token) =>
  (await (await h.json('GET', `/orders/${id}`, undefined, token)).json()) as {
    status: string;
    events: { from: string | null; to: string }[];
    failureReason?: string;
  };

describe('the order saga', () => {
  test('happy path: completed with one payment, reservation consumed, one email', async () => {
    const p = await product(10);
    const res = await h.json(
      'POST',
      '/orders',
      { items: [{ productId: p, quantity: 3 }], payment: { token: 'tok_visa' } },
      user.token,
    );
    expect(res.status).toBe(202);
    const placed = (await res.json()) as { id: string; status: string; totalCents: number };
    expect(placed.status).toBe('pending');
    expect(placed.totalCents).toBe(4500);
    const done = await eventually(
      () => order(placed.id),
      (o) => o.status === 'completed',
    );
    expect(done.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'paid', 'completed']);
    expect(await stock(p)).toMatchObject({ available: 7, reserved: 0 });
    const pay = (await (
      await h.json('GET', `/payment/status/${placed.id}`, undefined, user.token)
    ).json()) as { status: string; transactions: unknown[] };
    expect(pay.status).toBe('succeeded');
    expect(pay.transactions).toHaveLength(1);
    const [emails] = await h.pool.query(`SELECT channel, status FROM notifications WHERE order_id = ?`, [
      placed.id,
    ]);
    console.log(emails);
  });
});
