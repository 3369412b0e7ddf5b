import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { SQL } from 'drizzle-orm';
import { payments } from '../db/schema';
import type { Actor } from '../domain/actor';
import { chargeOrders } from '../domain/orders/charge-batch';
import { cancelOrder } from '../domain/orders/compensate';
import type { OrderContext } from '../domain/orders/context';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { createGateway } from '../wiring/adapters';
import type { WorkerDeps } from '../workers/deps';
import type { Harness } from './support/harness';
import { CountingGateway } from './support/stand-ins';
import { startWorkerHarness, type WorkerHarness } from './support/worker-harness';

/** The cancels below are a customer's (the actor their timeline rows name). */
const customer: Actor = { type: 'user' };

// The statements a small batch no longer makes must not take a guarantee with them: the charge batch's
// payment rows answer for the orders still reserved (no re-read), and reserve holds a batch's stock
// without reading it first.

let w: WorkerHarness;
let h: Harness;
let s: WorkerHarness['s'];
let user: WorkerHarness['user'];
let deps: WorkerDeps;

beforeAll(async () => {
  w = await startWorkerHarness('small-batches');
  ({ h, s, user, deps } = w);
}, 60_000);
afterAll(() => w?.close(), 60_000);

async function place(productId: string, quantity = 1): Promise<string> {
  const res = await s.place(user.token, productId, quantity);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

describe('small batches keep the guarantees', () => {
  test('charge: an order cancelled after its approval, before its payment row, is neither charged nor given a row; its neighbour is charged once', async () => {
    const p = await s.product(10);
    const [kept, cancelled] = [await place(p), await place(p)];
    await reserveOrders(deps.orders, [kept, cancelled]);
    const gateway = new CountingGateway(createGateway(h.config, h.db));
    // The customer's cancel commits just before the batch's payment rows are made (after the
    // approvals were stored): the database handle runs it first when that statement comes.
    const db = new Proxy(deps.orders.db, {
      get(target, prop, receiver) {
        if (prop !== 'execute') return Reflect.get(target, prop, receiver);
        return async (query: SQL) => {
          if (query.queryChunks[1] === payments && !cancelledFirst) {
            cancelledFirst = true;
            await cancelOrder({ ...deps.orders, gateway }, cancelled, customer);
          }
          return target.execute(query);
        };
      },
    });
    let cancelledFirst = false;
    const ctx: OrderContext = { ...deps.orders, db, gateway };

    const out = await chargeOrders(ctx, [kept, cancelled]);
    expect(cancelledFirst).toBe(true);
    expect(out.get(kept)).toEqual({ ok: true, value: { status: 'paid', changed: true } });
    expect(out.get(cancelled)).toEqual({ ok: true, value: { status: 'cancelled', changed: false } });
    expect(gateway.chargeCalls(kept)).toBe(1);
    expect(gateway.chargeCalls(cancelled)).toBe(0);
    const [rows] = await h.pool.query('SELECT order_id, status FROM payments WHERE order_id IN (?)', [
      [kept, cancelled],
    ]);
    expect(rows as unknown[]).toEqual([{ order_id: kept, status: 'succeeded' }]);
    expect(await s.stock(p)).toEqual({ available: 9, reserved: 1 });
  });

  test('charge: a retried batch finds its payment rows made and charges nobody twice', async () => {
    const p = await s.product(10);
    const ids = [await place(p), await place(p)];
    await reserveOrders(deps.orders, ids);
    const gateway = new CountingGateway(createGateway(h.config, h.db));
    const ctx: OrderContext = { ...deps.orders, gateway };
    // The first attempt made the rows and then died before the gateway was asked.
    await h.pool.query(
      `INSERT INTO payments (id, order_id, status, amount_cents, currency, idempotency_key, created_at, updated_at)
       SELECT CONCAT('pay_', id), id, 'pending', total_cents, currency, CONCAT('chg_', id), NOW(3), NOW(3)
       FROM orders WHERE id IN (?)`,
      [ids],
    );
    const out = await chargeOrders(ctx, ids);
    for (const id of ids) {
      expect(out.get(id)).toEqual({ ok: true, value: { status: 'paid', changed: true } });
      expect(gateway.chargeCalls(id)).toBe(1);
    }
    const [rows] = await h.pool.query('SELECT COUNT(*) AS n FROM payments WHERE order_id IN (?)', [ids]);
    expect(Number((rows as { n: number }[])[0]?.n)).toBe(2);
  });

  test('reserve: a batch that fits holds exactly its units; one that does not is decided order by order', async () => {
    const p = await s.product(5);
    const fits = [await place(p, 2), await place(p, 3)];
    const fitted = await reserveOrders(deps.orders, fits);
    for (const id of fits)
      expect(fitted.get(id)).toEqual({
        ok: true,
        value: { status: 'reserved', changed: true, messages: [] },
      });
    expect(await s.stock(p)).toEqual({ available: 0, reserved: 5 });

    const q = await s.product(3);
    const [first, tooMany, last] = [await place(q, 2), await place(q, 2), await place(q, 1)];
    const out = await reserveOrders(deps.orders, [first, tooMany, last]);
    expect(out.get(first)).toEqual({ ok: true, value: { status: 'reserved', changed: true, messages: [] } });
    expect(out.get(tooMany)).toEqual({
      ok: true,
      value: { status: 'rejected', changed: true, messages: [expect.any(String)] },
    });
    expect(out.get(last)).toEqual({ ok: true, value: { status: 'reserved', changed: true, messages: [] } });
    expect(await s.stock(q)).toEqual({ available: 0, reserved: 3 });
  });
});
