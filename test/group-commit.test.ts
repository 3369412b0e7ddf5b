import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Actor } from '../domain/actor';
import { chargeOrders } from '../domain/orders/charge-batch';
import { cancelOrder } from '../domain/orders/compensate';
import type { OrderContext } from '../domain/orders/context';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { MicroBatcher } from '../lib/batcher';
import { jobIds } from '../queues/contract';
import { createGateway } from '../wiring/adapters';
import type { WorkerDeps } from '../workers/deps';
import { notifyBatcher } from '../workers/notify';
import type { Harness } from './support/harness';
import { ledger } from './support/orders';
import { CountingGateway } from './support/stand-ins';
import { startWorkerHarness, type WorkerHarness } from './support/worker-harness';

/** The cancels below are a customer's (the actor their timeline rows name). */
const customer: Actor = { type: 'user' };

let w: WorkerHarness;
let h: Harness;
let s: WorkerHarness['s'];
let user: WorkerHarness['user'];
let deps: WorkerDeps;

beforeAll(async () => {
  // The workers' batches hold up to 3 orders and wait long enough for all three submissions to join.
  w = await startWorkerHarness('group-commit', { GROUP_COMMIT_MAX: 3, GROUP_COMMIT_WAIT_MS: 1000 });
  ({ h, s, user, deps } = w);
}, 60_000);
afterAll(() => w?.close(), 60_000);

/** Places an order over the API (no workers run here: the batches are driven by the test). */
async function place(items: { productId: string; quantity: number }[]): Promise<string> {
  const res = await h.json('POST', '/orders', { items, payment: { token: 'tok_visa' } }, user.token);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function row(id: string) {
  const [rows] = await h.pool.query('SELECT status, failure_reason AS reason FROM orders WHERE id = ?', [id]);
  return (rows as { status: string; reason: string | null }[])[0];
}

async function timeline(id: string) {
  const [rows] = await h.pool.query(
    'SELECT from_status AS `from`, to_status AS `to` FROM order_events WHERE order_id = ? ORDER BY id',
    [id],
  );
  return (rows as { from: string | null; to: string }[]).map((e) => `${e.from ?? '∅'}→${e.to}`);
}

describe('the micro-batcher', () => {
  test('flushes when full or when the wait is over, answers each item on its own, defers a duplicate', async () => {
    const batches: string[][] = [];
    const b = new MicroBatcher<string, string>(
      async (keys) => {
        batches.push(keys);
        return new Map(
          keys.map((k) => [
            k,
            k === 'bad' ? { ok: false, error: new Error(`no ${k}`) } : { ok: true, value: k.toUpperCase() },
          ]),
        );
      },
      { maxSize: 3, maxWaitMs: 20 },
    );
    const first = await Promise.allSettled(['a', 'bad', 'c', 'd'].map((k) => b.submit(k)));
    expect(first.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'A',
      'no bad',
      'C',
      'D',
    ]);
    // Full at three; the fourth waited for the timer.
    expect(batches).toEqual([['a', 'bad', 'c'], ['d']]);
    batches.length = 0;
    expect(await Promise.all(['x', 'x'].map((k) => b.submit(k)))).toEqual(['X', 'X']);
    expect(batches).toEqual([['x'], ['x']]);
  });
});

describe('group commit of the saga steps', () => {
  test('reserve: the order that lacks stock is rejected, its neighbours in the batch hold theirs', async () => {
    const scarce = await s.product(3);
    const plenty = await s.product(10);
    const a = await place([{ productId: scarce, quantity: 1 }]);
    const b = await place([{ productId: scarce, quantity: 5 }]);
    const c = await place([{ productId: scarce, quantity: 2 }]);
    // Two lines: the scarce one is short, so nothing of the plentiful one may stay held either.
    const d = await place([
      { productId: plenty, quantity: 4 },
      { productId: scarce, quantity: 1 },
    ]);
    const e = await place([{ productId: plenty, quantity: 6 }]);

    const out = await reserveOrders(deps.orders, [a, b, c, d, e]);
    const value = (id: string) => {
      const r = out.get(id);
      if (!r?.ok) throw new Error(`no result for ${id}`);
      return r.value;
    };
    expect(value(a)).toEqual({ status: 'reserved', changed: true, messages: [] });
    expect(value(b)).toEqual({ status: 'rejected', changed: true, messages: [expect.any(String)] });
    expect(value(c)).toEqual({ status: 'reserved', changed: true, messages: [] });
    expect(value(d)).toEqual({ status: 'rejected', changed: true, messages: [expect.any(String)] });
    expect(value(e)).toEqual({ status: 'reserved', changed: true, messages: [] });
    expect(await row(b)).toEqual({ status: 'rejected', reason: `out_of_stock:${scarce}` });
    expect(await row(d)).toEqual({ status: 'rejected', reason: `out_of_stock:${scarce}` });
    expect(await s.stock(scarce)).toEqual({ available: 0, reserved: 3 });
    expect(await s.stock(plenty)).toEqual({ available: 4, reserved: 6 });
    for (const id of [a, c, e]) expect(await timeline(id)).toEqual(['∅→pending', 'pending→reserved']);
    for (const id of [b, d]) expect(await timeline(id)).toEqual(['∅→pending', 'pending→rejected']);

    // Run again (a retried batch): nothing moves, nothing is written twice.
    const again = await reserveOrders(deps.orders, [a, b, c, d, e]);
    expect([...again.values()].every((r) => r.ok && !r.value.changed)).toBe(true);
    expect(await s.stock(scarce)).toEqual({ available: 0, reserved: 3 });
    expect(await timeline(a)).toEqual(['∅→pending', 'pending→reserved']);
  });

  test('charge: an order cancelled before its batch is not charged; one cancelled during the gateway call is refunded; the others are paid once', async () => {
    const p = await s.product(10);
    const ids = [await place([{ productId: p, quantity: 1 }])];
    ids.push(await place([{ productId: p, quantity: 1 }]));
    ids.push(await place([{ productId: p, quantity: 1 }]));
    ids.push(await place([{ productId: p, quantity: 1 }]));
    const [a, before, during, d] = ids as [string, string, string, string];
    await reserveOrders(deps.orders, ids);
    const gateway = new CountingGateway(createGateway(h.config, h.db));
    const ctx: OrderContext = { ...deps.orders, gateway };
    await cancelOrder(ctx, before, customer);
    // The customer cancels while the gateway is taking the money for `during`.
    gateway.during = async (orderId) => {
      if (orderId === during) await cancelOrder(ctx, during, customer);
    };

    const out = await chargeOrders(ctx, ids);
    expect(out.get(a)).toEqual({ ok: true, value: { status: 'paid', changed: true } });
    expect(out.get(d)).toEqual({ ok: true, value: { status: 'paid', changed: true } });
    expect(out.get(before)).toEqual({ ok: true, value: { status: 'cancelled', changed: false } });
    expect(out.get(during)).toEqual({ ok: true, value: { status: 'cancelled', changed: false } });
    expect(gateway.chargeCalls(before)).toBe(0);
    expect(gateway.chargeCalls(a)).toBe(1);
    expect(gateway.chargeCalls(during)).toBe(1);
    expect(await ledger(h, a)).toEqual({ charges: 1, refunds: 0 });
    expect(await ledger(h, d)).toEqual({ charges: 1, refunds: 0 });
    expect(await ledger(h, before)).toEqual({ charges: 0, refunds: 0 });
    expect(await ledger(h, during)).toEqual({ charges: 1, refunds: 1 });
    expect(await timeline(during)).toEqual(['∅→pending', 'pending→reserved', 'reserved→cancelled']);
    expect(await timeline(a)).toEqual(['∅→pending', 'pending→reserved', 'reserved→paid']);
    // Two cancelled orders gave their units back; two paid ones hold theirs.
    expect(await s.stock(p)).toEqual({ available: 8, reserved: 2 });
    const [payments] = await h.pool.query('SELECT order_id, status FROM payments WHERE order_id IN (?)', [
      ids,
    ]);
    const byOrder = new Map(
      (payments as { order_id: string; status: string }[]).map((r) => [r.order_id, r.status]),
    );
    expect(byOrder.get(a)).toBe('succeeded');
    expect(byOrder.get(during)).toBe('refunded');

    // A retried batch charges nobody again.
    const again = await chargeOrders(ctx, ids);
    expect([...again.values()].every((r) => r.ok && !r.value.changed)).toBe(true);
    expect(gateway.chargeCalls(a)).toBe(1);
  });

  test('notify: a batch whose transaction fails falls back to one order at a time; only the bad order fails', async () => {
    const good = await s.product(10);
    const broken = await s.product(10);
    const a = await place([{ productId: good, quantity: 1 }]);
    const b = await place([{ productId: broken, quantity: 2 }]);
    const c = await place([{ productId: good, quantity: 1 }]);
    await reserveOrders(deps.orders, [a, b, c]);
    await chargeOrders(deps.orders, [a, b, c]);
    // The books are wrong for b's product: the held units are not there any more.
    await h.pool.query('UPDATE products SET reserved = 1 WHERE id = ?', [broken]);

    const batcher = notifyBatcher(deps);
    const results = await Promise.allSettled([a, b, c].map((id) => batcher.submit(id)));
    const [ra, rb, rc] = results;
    expect(ra?.status).toBe('fulfilled');
    expect(rc?.status).toBe('fulfilled');
    expect(rb?.status).toBe('rejected');
    // The one-order path is a batch of one (completion and message in one transaction): its stock
    // update is refused for b's product.
    expect(rb?.status === 'rejected' && (rb.reason as Error).message).toContain(broken);
    expect((await row(a))?.status).toBe('completed');
    expect((await row(c))?.status).toBe('completed');
    // b is untouched, ready for its job's retry once the books are right.
    expect((await row(b))?.status).toBe('paid');
    expect(await s.stock(broken)).toEqual({ available: 8, reserved: 1 });
    expect(await s.stock(good)).toEqual({ available: 8, reserved: 0 });
    for (const id of [a, c]) {
      expect(await timeline(id)).toEqual([
        '∅→pending',
        'pending→reserved',
        'reserved→paid',
        'paid→completed',
      ]);
      const [msgs] = await h.pool.query('SELECT send_job AS sendJob FROM notifications WHERE order_id = ?', [
        id,
      ]);
      const jobs = (msgs as { sendJob: string }[]).map((m) => m.sendJob);
      expect(jobs.length).toBe(1);
      // The message is handed on with its batch: the one send job of the batch it was recorded in.
      expect(await deps.queues.queues.deliver.getJobState(jobs[0] as string)).not.toBe('unknown');
    }
    const [none] = await h.pool.query('SELECT id FROM notifications WHERE order_id = ?', [b]);
    expect(none).toEqual([]);

    // The retry of b after the books are put right completes it once.
    await h.pool.query('UPDATE products SET reserved = 2 WHERE id = ?', [broken]);
    expect((await batcher.submit(b)).status).toBe('completed');
    expect(await timeline(b)).toEqual(['∅→pending', 'pending→reserved', 'reserved→paid', 'paid→completed']);
    expect(await s.stock(broken)).toEqual({ available: 8, reserved: 0 });
  });

  test('POST /orders: requests placed together get their own answers — a refused one, a replay, two new', async () => {
    const p = await s.product(10);
    const body = (productId: string) => ({
      items: [{ productId, quantity: 1 }],
      payment: { token: 'tok_visa' },
    });
    const first = await h.json('POST', '/orders', body(p), user.token, { 'idempotency-key': 'k-replayed' });
    expect(first.status).toBe(202);
    const firstId = ((await first.json()) as { id: string }).id;
    const [countBefore] = await h.pool.query('SELECT COUNT(*) AS n FROM orders');
    // Sent at once, so the API stores them as one batch (and, for the replay, falls back to one by one).
    const answers = await Promise.all([
      h.json('POST', '/orders', body(p), user.token, { 'idempotency-key': 'k-new-1' }),
      h.json('POST', '/orders', body('prd_nope'), user.token),
      h.json('POST', '/orders', body(p), user.token, { 'idempotency-key': 'k-replayed' }),
      h.json('POST', '/orders', body(p), user.token, { 'idempotency-key': 'k-new-2' }),
      h.json('POST', '/orders', body(p), user.token, { 'idempotency-key': 'k-new-2' }),
    ]);
    // Of the two requests that share a new key, either may be the one that creates the order.
    expect(answers.slice(0, 3).map((r) => r.status)).toEqual([202, 422, 200]);
    expect(
      answers
        .slice(3)
        .map((r) => r.status)
        .sort(),
    ).toEqual([200, 202]);
    const ids = (await Promise.all(answers.map((r) => r.json()))) as { id?: string }[];
    expect(ids[2]?.id).toBe(firstId);
    expect(ids[4]?.id).toBe(ids[3]?.id);
    const [countAfter] = await h.pool.query('SELECT COUNT(*) AS n FROM orders');
    expect(
      Number((countAfter as { n: number }[])[0]?.n) - Number((countBefore as { n: number }[])[0]?.n),
    ).toBe(2);
    // Each new order has its flow queued and its one timeline row.
    for (const id of [ids[0]?.id, ids[3]?.id] as string[]) {
      expect(await deps.queues.queues.reserve.getJobState(jobIds.reserve(id))).not.toBe('unknown');
      expect(await timeline(id)).toEqual(['∅→pending']);
    }
  });
});
