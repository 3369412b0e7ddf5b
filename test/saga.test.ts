import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createGateway } from '../wiring/adapters';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { CountingGateway, CountingTransports } from './support/stand-ins';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers;
// The gateway and the providers as the workers reach them: every call is counted.
let gateway: CountingGateway;
let transports: CountingTransports;
let admin: { token: string };
let user: { id: string; email: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000', WORKER_CONCURRENCY: '20' });
  gateway = new CountingGateway(createGateway(h.config, h.db));
  transports = new CountingTransports();
  w = await startTestWorkers(h, { concurrency: 20, gateway, transports });
  admin = await h.signUp('admin');
  user = await h.signUp('user', '+14155550123');
  s = shop(h, admin);
});
afterAll(async () => {
  await w.stop();
  await h.cleanup();
});

describe('the order saga', () => {
  test('happy path: completed, one payment, reservation consumed, one email and one SMS', async () => {
    const p = await s.product(10);
    const res = await s.place(user.token, p, 3);
    expect(res.status).toBe(202);
    const placed = (await res.json()) as { id: string; status: string; totalCents: number };
    expect(placed.status).toBe('pending');
    expect(placed.totalCents).toBe(4500);
    const done = await eventually(
      () => s.order(placed.id, user.token),
      (o) => o.status === 'completed',
    );
    expect(done.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'paid', 'completed']);
    expect(await s.stock(p)).toEqual({ available: 7, reserved: 0 });
    const pay = await s.payment(placed.id, user.token);
    expect(pay.status).toBe('succeeded');
    expect(pay.transactions).toEqual([expect.objectContaining({ type: 'charge', amountCents: 4500 })]);
    await eventually(
      () => s.notificationsOf(placed.id),
      (n) => n.length === 2 && n.every((x) => x.status === 'sent'),
    );
    // What reached the outside world: one charge call, one email and one SMS.
    expect(gateway.chargeCalls(placed.id)).toBe(1);
    expect(gateway.refundCalls(placed.id)).toBe(0);
    const sent = transports.of(placed.id);
    expect(sent.map((m) => m.channel).sort()).toEqual(['email', 'sms']);
    expect(sent.find((m) => m.channel === 'email')?.to).toBe(user.email);
    expect(sent.find((m) => m.channel === 'sms')?.to).toBe('+14155550123');
    expect(sent.every((m) => m.text.includes('confirmed'))).toBe(true);
  });

  test('out of stock: rejected with a reason, stock unchanged, customer told', async () => {
    const p = await s.product(2);
    const { id } = (await (await s.place(user.token, p, 3)).json()) as { id: string };
    const o = await eventually(
      () => s.order(id),
      (x) => x.status === 'rejected',
    );
    expect(o.failureReason).toBe(`out_of_stock:${p}`);
    // A rejected order is final: it cannot be cancelled.
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(409);
    expect(await s.stock(p)).toEqual({ available: 2, reserved: 0 });
    expect((await s.payment(id)).transactions).toHaveLength(0);
    await eventually(
      () => s.notificationsOf(id),
      (n) => n.some((x) => x.dedupeKey === `${id}:rejected:email` && x.status === 'sent'),
    );
    expect(gateway.chargeCalls(id)).toBe(0);
    expect(transports.of(id, 'email').map((m) => m.text)).toEqual([expect.stringContaining('out of stock')]);
  });

  test('declined card: payment_failed, stock back where it was', async () => {
    const p = await s.product(5);
    for (const [token, code] of [
      ['tok_chargeDeclined', 'card_declined'],
      ['tok_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
    ] as const) {
      const { id } = (await (await s.place(user.token, p, 2, token)).json()) as { id: string };
      const o = await eventually(
        () => s.order(id),
        (x) => x.status === 'payment_failed',
      );
      expect(o.failureReason).toBe(code);
      expect(o.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'payment_failed']);
      const pay = await s.payment(id);
      expect(pay.status).toBe('failed');
      expect(pay.failureCode).toBe(code);
      expect(pay.transactions).toHaveLength(0);
      expect(gateway.chargeCalls(id)).toBe(1);
      // A payment_failed order is final: it cannot be cancelled.
      expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(409);
      expect((await s.order(id)).status).toBe('payment_failed');
    }
    expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
  });

  test('500 concurrent orders of one unit for 100 in stock: exactly 100 completed, 400 rejected', async () => {
    const p = await s.product(100, 100);
    const buyers = await Promise.all(Array.from({ length: 5 }, () => h.signUp('user')));
    const responses = await Promise.all(
      Array.from({ length: 500 }, (_, i) => s.place((buyers[i % 5] as { token: string }).token, p, 1)),
    );
    expect(responses.every((r) => r.status === 202)).toBe(true);
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id));
    const statuses = async () => {
      const [rows] = await h.pool.query(
        'SELECT status, COUNT(*) AS n FROM orders WHERE id IN (?) GROUP BY status',
        [ids],
      );
      return Object.fromEntries(
        (rows as { status: string; n: number }[]).map((r) => [r.status, Number(r.n)]),
      );
    };
    const final = await eventually(statuses, (c) => (c.completed ?? 0) + (c.rejected ?? 0) === 500, 90_000);
    expect(final).toEqual({ completed: 100, rejected: 400 });
    expect(await s.stock(p)).toEqual({ available: 0, reserved: 0 });
    // The gateway was asked once for each completed order and never for a rejected one.
    const [rows] = await h.pool.query("SELECT id FROM orders WHERE status = 'completed' AND id IN (?)", [
      ids,
    ]);
    const completed = new Set((rows as { id: string }[]).map((r) => r.id));
    const calls = ids.map((id) => gateway.chargeCalls(id));
    expect(ids.filter((id, i) => calls[i] !== (completed.has(id) ? 1 : 0))).toEqual([]);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(100);
  }, 120_000);

  test('cancel after completed is 409 and changes nothing', async () => {
    const p = await s.product(3);
    const { id } = (await (await s.place(user.token, p, 1)).json()) as { id: string };
    await eventually(
      () => s.order(id),
      (x) => x.status === 'completed',
    );
    const res = await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token);
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect((await s.order(id)).status).toBe('completed');
    expect(await s.stock(p)).toEqual({ available: 2, reserved: 0 });
  });

  test('pay later: reserved, then POST /payment completes it', async () => {
    const p = await s.product(4);
    const { id } = (await (await s.place(user.token, p, 2, null)).json()) as { id: string };
    await eventually(
      () => s.order(id),
      (x) => x.status === 'reserved',
    );
    expect(await s.stock(p)).toEqual({ available: 2, reserved: 2 });
    expect((await s.payment(id, user.token)).status).toBe('unpaid');
    const other = await h.signUp('user');
    expect((await h.json('POST', '/payment', { orderId: id, token: 'tok_visa' }, other.token)).status).toBe(
      403,
    );
    const pay = await h.json('POST', '/payment', { orderId: id, token: 'tok_visa' }, user.token);
    expect(pay.status).toBe(202);
    expect(await pay.json()).toEqual({ orderId: id, status: 'pending' });
    const again = await h.json('POST', '/payment', { orderId: id, token: 'tok_visa' }, user.token);
    expect(again.status).toBe(409);
    const o = await eventually(
      () => s.order(id),
      (x) => x.status === 'completed',
    );
    expect(o.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'paid', 'completed']);
    expect(await s.stock(p)).toEqual({ available: 2, reserved: 0 });
    const paid = await s.payment(id, user.token);
    expect(paid.status).toBe('succeeded');
    expect(paid.transactions.map((t) => [t.type, t.amountCents])).toEqual([['charge', 3000]]);
    // The second POST /payment (409) queued nothing: the gateway was asked once.
    expect(gateway.chargeCalls(id)).toBe(1);
  });

  test('pay later with a declined card: payment_failed, failureCode shown, stock back, customer told', async () => {
    const p = await s.product(4);
    const { id } = (await (await s.place(user.token, p, 3, null)).json()) as { id: string };
    await eventually(
      () => s.order(id),
      (x) => x.status === 'reserved',
    );
    const pay = await h.json('POST', '/payment', { orderId: id, token: 'tok_chargeDeclined' }, user.token);
    expect(pay.status).toBe(202);
    const o = await eventually(
      () => s.order(id),
      (x) => x.status !== 'reserved',
    );
    expect(o.status).toBe('payment_failed');
    expect(o.failureReason).toBe('card_declined');
    expect(o.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'payment_failed']);
    const status = await s.payment(id, user.token);
    expect(status).toMatchObject({ status: 'failed', failureCode: 'card_declined', transactions: [] });
    expect(gateway.chargeCalls(id)).toBe(1);
    expect(await s.stock(p)).toEqual({ available: 4, reserved: 0 });
    await eventually(
      async () => transports.of(id, 'email').length,
      (n) => n > 0,
    );
    expect(transports.of(id, 'email').map((m) => m.text)).toEqual([expect.stringContaining('card_declined')]);
    // Paying again is refused: the order is final.
    expect((await h.json('POST', '/payment', { orderId: id, token: 'tok_visa' }, user.token)).status).toBe(
      409,
    );
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(409);
  });

  test('someone else cannot read, cancel or list an order', async () => {
    const p = await s.product(1);
    const { id } = (await (await s.place(user.token, p, 1, null)).json()) as { id: string };
    const other = await h.signUp('user');
    expect((await h.json('GET', `/orders/${id}`, undefined, other.token)).status).toBe(403);
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, other.token)).status).toBe(403);
    expect((await h.json('GET', `/orders/user/${user.id}`, undefined, other.token)).status).toBe(403);
    expect((await h.json('GET', `/payment/status/${id}`, undefined, other.token)).status).toBe(403);
    expect((await h.json('GET', `/orders/${id}`)).status).toBe(401);
    expect((await h.json('GET', `/orders/${id}`, undefined, admin.token)).status).toBe(200);
    // The refused cancel changed nothing: the order goes on to hold its stock, never cancelled.
    const o = await eventually(
      () => s.order(id),
      (x) => x.status !== 'pending',
    );
    expect(o.status).toBe('reserved');
    expect(o.events.map((e) => e.to)).toEqual(['pending', 'reserved']);
    expect(await s.stock(p)).toEqual({ available: 0, reserved: 1 });
  });
});
