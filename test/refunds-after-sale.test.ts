import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { requestRefund } from '../domain/orders/refunds/create';
import { chargeKey, refundIdKey } from '../domain/payments/gateway';
import { createLogger } from '../lib/logger';
import { createGateway } from '../wiring/adapters';
import { buildWorkerDeps } from '../workers/deps';
import { reconcile } from '../workers/reconcile';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';
import { shop } from './support/shop';
import { CountingGateway } from './support/stand-ins';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// Refunds after the sale: by amount or by lines (restocked), any number of them, never past what was
// captured; each a row before it is a gateway call, recorded once, the customer told each time.

interface RefundBody {
  id: string;
  orderId: string;
  amountCents: number;
  items?: { productId: string; quantity: number }[];
  restocked: boolean;
  reason?: string;
  status: string;
  createdAt: string;
}

let h: Harness;
let w: TestWorkers;
let gateway: CountingGateway;
let admin: { id: string; token: string };
let customer: { id: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000', RECONCILE_AFTER_SECONDS: '1' });
  gateway = new CountingGateway(createGateway(h.config, h.db));
  h.deps.orders.gateway = gateway;
  w = await startTestWorkers(h, { gateway });
  admin = await h.signUp('admin');
  customer = await h.signUp('user');
  s = shop(h, admin);
}, 60_000);
afterAll(async () => {
  await w.stop();
  await h.cleanup();
}, 60_000);

const refund = (id: string, body: unknown, token = admin.token, headers: Record<string, string> = {}) =>
  h.json('POST', `/orders/${id}/refunds`, body, token, headers);

/** A completed order of `qty` units of a fresh product priced `price` (stock `stock`). */
async function completedOrder(qty: number, price = 1000, stock = 10) {
  const p = await s.product(stock, price);
  const res = await h.json(
    'POST',
    '/orders',
    { items: [{ productId: p, quantity: qty }], payment: { token: 'tok_visa' } },
    customer.token,
  );
  const { id } = await expectJson<{ id: string }>(res, 202);
  await eventually(
    () => s.order(id),
    (o) => o.status === 'completed',
  );
  return { id, p };
}

async function refundRows(orderId: string) {
  const [rows] = await h.pool.query(
    'SELECT id, status, amount_cents AS amountCents FROM refunds WHERE order_id = ?',
    [orderId],
  );
  return rows as { id: string; status: string; amountCents: number }[];
}

/** What the processor holds for the order: its accepted refunds' amounts. */
async function ledgerRefunds(orderId: string) {
  const [rows] = await h.pool.query(
    `SELECT amount_cents AS cents FROM gateway_transactions WHERE type = 'refund' AND outcome = 'succeeded' AND payment_ref = ? ORDER BY at`,
    [chargeKey(orderId)],
  );
  return (rows as { cents: number }[]).map((r) => Number(r.cents));
}

const refundMails = async (orderId: string) =>
  (await s.notificationsOf(orderId)).filter((n) => n.dedupeKey?.endsWith(':refund:email'));

describe('refunds by amount', () => {
  test('any number of them, each recorded and mailed once; never past what was captured (409); the order keeps its status', async () => {
    const { id } = await completedOrder(2, 1000);
    const first = await expectJson<RefundBody>(
      await refund(id, { amountCents: 500, reason: 'late delivery' }),
      201,
    );
    expect(first).toMatchObject({
      orderId: id,
      amountCents: 500,
      status: 'succeeded',
      restocked: false,
      reason: 'late delivery',
    });
    expect(first.items).toBeUndefined();
    let pay = await s.payment(id);
    expect(pay).toMatchObject({ status: 'partially_refunded', capturedCents: 2000, refundedCents: 500 });
    expect(pay.transactions.map((t) => [t.type, t.amountCents])).toEqual([
      ['charge', 2000],
      ['refund', 500],
    ]);
    const second = await expectJson<RefundBody>(await refund(id, { amountCents: 1499 }), 201);
    expect(second.status).toBe('succeeded');
    // One cent is left: two cents is too much, and nothing changes.
    const refused = await expectProblem(await refund(id, { amountCents: 2 }), 409, ['amountCents']);
    expect(refused.detail).toContain('captured');
    expect(await expectJson<RefundBody>(await refund(id, { amountCents: 1 }), 201)).toMatchObject({
      status: 'succeeded',
    });
    await expectProblem(await refund(id, { amountCents: 1 }), 409);
    pay = await s.payment(id);
    expect(pay).toMatchObject({ status: 'refunded', capturedCents: 2000, refundedCents: 2000 });
    const order = await s.order(id);
    expect(order.status).toBe('completed');
    expect((order as unknown as { refundedCents: number }).refundedCents).toBe(2000);
    expect(await ledgerRefunds(id)).toEqual([500, 1499, 1]);
    expect(gateway.refundCalls(id)).toBe(3);
    const listed = await expectJson<{ data: RefundBody[] }>(
      await h.json('GET', `/orders/${id}/refunds`, undefined, customer.token),
      200,
    );
    expect(listed.data.map((r) => [r.amountCents, r.status])).toEqual([
      [500, 'succeeded'],
      [1499, 'succeeded'],
      [1, 'succeeded'],
    ]);
    // One email per refund, delivered through the outbox.
    await eventually(
      () => refundMails(id),
      (m) => m.length === 3 && m.every((x) => x.status === 'sent'),
    );
  }, 60_000);

  test('Idempotency-Key: a replay returns the same refund (200) and moves no money; another body is 422', async () => {
    const { id } = await completedOrder(1, 3000);
    const key = { 'idempotency-key': `rf-${crypto.randomUUID()}` };
    const first = await expectJson<RefundBody>(await refund(id, { amountCents: 700 }, admin.token, key), 201);
    const again = await expectJson<RefundBody>(await refund(id, { amountCents: 700 }, admin.token, key), 200);
    expect(again.id).toBe(first.id);
    await expectProblem(await refund(id, { amountCents: 800 }, admin.token, key), 422);
    expect(gateway.refundCalls(id)).toBe(1);
    expect(await refundRows(id)).toHaveLength(1);
    expect(await ledgerRefunds(id)).toEqual([700]);
  }, 60_000);
});

describe('refunds by lines', () => {
  test('lines go back to available (restock by default), priced as sold; past what is left, or a line the order lacks, is 422', async () => {
    const { id, p } = await completedOrder(3, 1200, 10);
    expect(await s.stock(p)).toEqual({ available: 7, reserved: 0 });
    const one = await expectJson<RefundBody>(
      await refund(id, { items: [{ productId: p, quantity: 2 }] }),
      201,
    );
    expect(one).toMatchObject({
      amountCents: 2400,
      items: [{ productId: p, quantity: 2 }],
      restocked: true,
      status: 'succeeded',
    });
    expect(await s.stock(p)).toEqual({ available: 9, reserved: 0 });
    // Only one unit is left to return.
    await expectProblem(await refund(id, { items: [{ productId: p, quantity: 2 }] }), 422, [
      'items.0.quantity',
    ]);
    const other = await s.product(5);
    await expectProblem(await refund(id, { items: [{ productId: other, quantity: 1 }] }), 422, [
      'items.0.productId',
    ]);
    // Without restock the money goes back, the unit does not.
    const last = await expectJson<RefundBody>(
      await refund(id, { items: [{ productId: p, quantity: 1 }], restock: false }),
      201,
    );
    expect(last).toMatchObject({ amountCents: 1200, restocked: false, status: 'succeeded' });
    expect(await s.stock(p)).toEqual({ available: 9, reserved: 0 });
    expect(await s.payment(id)).toMatchObject({ status: 'refunded', refundedCents: 3600 });
    expect(await ledgerRefunds(id)).toEqual([2400, 1200]);
  }, 60_000);
});

describe('bad input and wrong callers change nothing', () => {
  test('negative, zero, fractional, both forms, unknown fields: 400 naming the field', async () => {
    const { id } = await completedOrder(1, 1000);
    for (const [body, field] of [
      [{ amountCents: -5 }, 'amountCents'],
      [{ amountCents: 0 }, 'amountCents'],
      [{ amountCents: 10.5 }, 'amountCents'],
      [{ amountCents: '100' }, 'amountCents'],
      [{ items: [] }, 'items'],
      [{ items: [{ productId: 'prd_x', quantity: 0 }] }, 'items.0.quantity'],
    ] as const) {
      const problem = await expectProblem(await refund(id, body), 400);
      expect(JSON.stringify(problem.errors)).toContain(field);
    }
    await expectProblem(
      await refund(id, { amountCents: 5, items: [{ productId: 'prd_x', quantity: 1 }] }),
      400,
    );
    await expectProblem(await refund(id, {}), 400);
    // Past the capture: 409, nothing recorded.
    await expectProblem(await refund(id, { amountCents: 1001 }), 409, ['amountCents']);
    await expectProblem(await refund('ord_nosuchorder', { amountCents: 1 }), 404);
    expect(await refundRows(id)).toEqual([]);
    expect(gateway.refundCalls(id)).toBe(0);
    expect(await s.payment(id)).toMatchObject({ status: 'succeeded', refundedCents: 0 });
  }, 60_000);

  test('an order whose money was not captured: 409 (unpaid, cancelled)', async () => {
    const p = await s.product(5);
    const res = await h.json('POST', '/orders', { items: [{ productId: p, quantity: 1 }] }, customer.token);
    const { id } = await expectJson<{ id: string }>(res, 202);
    await eventually(
      () => s.order(id),
      (o) => o.status === 'reserved',
    );
    await expectProblem(await refund(id, { amountCents: 100 }), 409);
    await expectJson(await h.json('PUT', `/orders/${id}/cancel`, undefined, customer.token), 200);
    await expectProblem(await refund(id, { amountCents: 100 }), 409);
    expect(await refundRows(id)).toEqual([]);
    expect(gateway.refundCalls(id)).toBe(0);
  }, 60_000);

  test('a customer cannot refund (403), not even their own order; only its owner or an admin lists refunds', async () => {
    const { id } = await completedOrder(1, 1000);
    await expectProblem(await refund(id, { amountCents: 100 }, customer.token), 403);
    await expectProblem(await h.json('POST', `/orders/${id}/refunds`, { amountCents: 100 }), 401);
    const stranger = await h.signUp('user');
    await expectProblem(await h.json('GET', `/orders/${id}/refunds`, undefined, stranger.token), 403);
    await expectProblem(await h.json('GET', `/orders/${id}/refunds`), 401);
    expect(
      await expectJson(await h.json('GET', `/orders/${id}/refunds`, undefined, admin.token), 200),
    ).toEqual({ data: [] });
    expect(gateway.refundCalls(id)).toBe(0);
  }, 60_000);
});

describe('API keys', () => {
  test("a key with refunds:write refunds (the refund is the key's); a key with orders:read only lists (403 on POST)", async () => {
    const { id } = await completedOrder(1, 1000);
    const newKey = async (scopes: string[]) =>
      await expectJson<{ id: string; key: string }>(
        await h.json('POST', '/api-keys', { name: 'erp', scopes }, admin.token),
        201,
      );
    const reader = await newKey(['orders:read']);
    const refunder = await newKey(['refunds:write']);
    await expectProblem(await refund(id, { amountCents: 100 }, reader.key), 403);
    const made = await expectJson<RefundBody>(await refund(id, { amountCents: 100 }, refunder.key), 201);
    expect(made.status).toBe('succeeded');
    const [rows] = await h.pool.query(
      'SELECT actor_type AS type, requested_by AS id FROM refunds WHERE id = ?',
      [made.id],
    );
    expect(rows as unknown[]).toEqual([{ type: 'api_key', id: refunder.id }]);
    const listed = await expectJson<{ data: RefundBody[] }>(
      await h.json('GET', `/orders/${id}/refunds`, undefined, reader.key),
      200,
    );
    expect(listed.data.map((r) => r.id)).toEqual([made.id]);
    expect(gateway.refundCalls(id)).toBe(1);
  }, 60_000);
});

describe('after a crash', () => {
  const reconcilerDeps = () =>
    buildWorkerDeps(h.config, { db: h.db, redis: h.redis }, createLogger('silent'), {
      gateway,
      queues: h.deps.queues,
    });

  test('an intent committed without its gateway call is settled by the reconciler exactly once (restocked once, mailed once)', async () => {
    const { id, p } = await completedOrder(2, 900, 10);
    // The process died right after the intent committed: the refund is a pending row and nothing more.
    const { refund: pending } = await requestRefund(h.deps.orders, {
      orderId: id,
      actor: { type: 'admin', id: admin.id },
      items: [{ productId: p, quantity: 1 }],
      restock: true,
    });
    expect(pending.status).toBe('pending');
    expect(gateway.refundCalls(id)).toBe(0);
    // Its successor's reconcilers (two at once, then once more) settle it.
    const deps = reconcilerDeps();
    await eventually(
      async () => {
        await Promise.all([reconcile(deps), reconcile(deps)]);
        return (await refundRows(id))[0]?.status;
      },
      (status) => status === 'succeeded',
      20_000,
    );
    await reconcile(deps);
    expect(await ledgerRefunds(id)).toEqual([900]);
    expect(await s.stock(p)).toEqual({ available: 9, reserved: 0 });
    expect(await s.payment(id)).toMatchObject({ status: 'partially_refunded', refundedCents: 900 });
    await eventually(
      () => refundMails(id),
      (m) => m.length === 1 && m[0]?.status === 'sent',
    );
  }, 60_000);

  test('a gateway call that went through but was never recorded is not made twice: the reconciler gets the first answer', async () => {
    const { id } = await completedOrder(1, 1500);
    const { refund: pending } = await requestRefund(h.deps.orders, {
      orderId: id,
      actor: { type: 'admin', id: admin.id },
      amountCents: 600,
    });
    // The processor took the call; the answer was lost with the process.
    expect(
      await gateway.refund({
        idempotencyKey: refundIdKey(pending.id),
        chargeIdempotencyKey: chargeKey(id),
        amountCents: 600,
      }),
    ).not.toBeNull();
    const deps = reconcilerDeps();
    await eventually(
      async () => {
        await reconcile(deps);
        return (await refundRows(id))[0]?.status;
      },
      (status) => status === 'succeeded',
      20_000,
    );
    expect(await ledgerRefunds(id)).toEqual([600]);
    expect(await s.payment(id)).toMatchObject({ refundedCents: 600 });
  }, 60_000);

  test('the processor itself refuses a refund past what it captured', async () => {
    const { id } = await completedOrder(1, 500);
    const op = { chargeIdempotencyKey: chargeKey(id) };
    expect(await gateway.refund({ ...op, idempotencyKey: `t1_${id}`, amountCents: 501 })).toBeNull();
    expect(await gateway.refund({ ...op, idempotencyKey: `t2_${id}`, amountCents: 300 })).not.toBeNull();
    expect(await gateway.refund({ ...op, idempotencyKey: `t3_${id}`, amountCents: 201 })).toBeNull();
    expect(await gateway.refund({ ...op, idempotencyKey: `t4_${id}` })).not.toBeNull();
    expect(await ledgerRefunds(id)).toEqual([300, 200]);
  }, 60_000);
});

describe('cancelling a paid order', () => {
  test('after a partial refund, the cancel refunds all that is left: payment refunded, refundedCents the total', async () => {
    // Held at paid: only reserve and charge run for this order.
    await w.stop();
    const only = await startTestWorkers(h, { gateway, queues: ['reserve', 'charge'] });
    try {
      const p = await s.product(5, 1000);
      const res = await h.json(
        'POST',
        '/orders',
        { items: [{ productId: p, quantity: 2 }], payment: { token: 'tok_visa' } },
        customer.token,
      );
      const { id } = await expectJson<{ id: string }>(res, 202);
      await eventually(
        () => s.order(id),
        (o) => o.status === 'paid',
      );
      // A paid order's units are still held for it: a restock now would count them twice.
      await expectProblem(await refund(id, { items: [{ productId: p, quantity: 1 }] }), 409);
      expect(await expectJson<RefundBody>(await refund(id, { amountCents: 300 }), 201)).toMatchObject({
        status: 'succeeded',
      });
      expect(await s.payment(id)).toMatchObject({ status: 'partially_refunded', refundedCents: 300 });
      await expectJson(await h.json('PUT', `/orders/${id}/cancel`, undefined, customer.token), 200);
      expect(await s.payment(id)).toMatchObject({
        status: 'refunded',
        capturedCents: 2000,
        refundedCents: 2000,
      });
      expect(await ledgerRefunds(id)).toEqual([300, 1700]);
      expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
    } finally {
      await only.stop();
      w = await startTestWorkers(h, { gateway });
    }
  }, 60_000);
});
