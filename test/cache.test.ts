import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chargeOrders } from '../domain/orders/charge-batch';
import { reserveOrder } from '../domain/orders/reserve-one';
import { applyScreening } from '../domain/orders/screen';
import { allowedTransitions, finalStatuses } from '../domain/orders/status';
import { ForwardingGateway } from '../domain/payments/forwarding-gateway';
import { GatewayUnavailableError } from '../domain/payments/gateway';
import { ReadThroughCache } from '../lib/cache';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers | undefined;
let admin: { token: string };
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({ EMAIL_RATE_MAX: '1000' });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
});
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
});

const cacheKeys = async (kind: string) =>
  (await h.redis.keys(`${h.prefix}:cache:${kind}:*`)).filter((k) => !k.includes(':gen:'));

describe('read-through cache', () => {
  test('inventory: a read after an admin write returns the new value', async () => {
    const p = await s.product(10);
    const read = async () =>
      (await (await h.json('GET', `/inventory/${p}`, undefined, user.token)).json()) as { available: number };
    expect((await read()).available).toBe(10);
    expect(await cacheKeys('inventory')).toContain(`${h.prefix}:cache:inventory:${p}`);
    expect((await h.json('PUT', `/inventory/${p}/update`, { delta: -3 }, admin.token)).status).toBe(200);
    expect((await read()).available).toBe(7);
    expect((await h.json('PUT', `/inventory/${p}/update`, { available: 42 }, admin.token)).status).toBe(200);
    expect((await read()).available).toBe(42);
  });

  test('the cache is really read: a row changed behind its back is not seen until a write invalidates it', async () => {
    const p = await s.product(5);
    const read = async () =>
      (await (await h.json('GET', `/inventory/${p}`, undefined, user.token)).json()) as { available: number };
    expect((await read()).available).toBe(5);
    await h.pool.query('UPDATE products SET available = 99 WHERE id = ?', [p]);
    expect((await read()).available).toBe(5);
    expect((await h.json('PUT', `/inventory/${p}/update`, { delta: 1 }, admin.token)).status).toBe(200);
    expect((await read()).available).toBe(100);
  });

  test('a live order is read from MySQL at every read; a final one is kept and served from the cache', async () => {
    const p = await s.product(5);
    const { id } = (await (await s.place(user.token, p, 1, null)).json()) as { id: string };
    const key = `${h.prefix}:cache:order:${id}`;
    expect((await s.order(id, user.token)).status).toBe('pending');
    expect(await cacheKeys('order')).not.toContain(key);
    await reserveOrder(h.deps.orders, id);
    expect((await s.order(id, user.token)).status).toBe('reserved');
    expect(await cacheKeys('order')).not.toContain(key);
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(200);
    const cancelled = await s.order(id, user.token);
    expect(cancelled.status).toBe('cancelled');
    expect(await cacheKeys('order')).toContain(key);
    // Really served from the cache: a change behind its back (no real write ever changes a final
    // order) is not seen.
    await h.pool.query("UPDATE orders SET failure_reason = 'behind_its_back' WHERE id = ?", [id]);
    expect(await s.order(id, user.token)).toEqual(cancelled);
  });

  test('a final status has no way out (the order cache keeps final orders without invalidating them)', () => {
    for (const status of finalStatuses) expect(allowedTransitions[status]).toEqual([]);
  });

  test('a read after a review decision, a charge and a cancel with refund shows it at once', async () => {
    const p = await s.product(10);
    const review = async (id: string) => {
      await reserveOrder(h.deps.orders, id);
      const parked = await applyScreening(h.deps.orders, id, {
        score: 0.6,
        decision: 'review',
        reasons: ['new_account'],
        model: 'test@0',
      });
      expect(parked?.status).toBe('review');
      expect(await s.order(id)).toMatchObject({ status: 'review', risk: { decision: 'review' } });
    };
    const placeUnpaid = async () =>
      ((await (await s.place(user.token, p, 1, null)).json()) as { id: string }).id;

    const rejected = await placeUnpaid();
    await review(rejected);
    const decide = (id: string, decision: string) =>
      h.json('POST', `/orders/${id}/review`, { decision }, admin.token);
    expect((await decide(rejected, 'reject')).status).toBe(200);
    expect(await s.order(rejected)).toMatchObject({ status: 'rejected', failureReason: 'fraud_suspected' });

    const approved = await placeUnpaid();
    await review(approved);
    expect((await decide(approved, 'approve')).status).toBe(200);
    expect(await s.order(approved)).toMatchObject({ status: 'reserved', risk: { decision: 'approve' } });

    const paid = ((await (await s.place(user.token, p, 1)).json()) as { id: string }).id;
    await reserveOrder(h.deps.orders, paid);
    expect((await s.order(paid)).status).toBe('reserved');
    expect((await chargeOrders(h.deps.orders, [paid])).get(paid)?.ok).toBe(true);
    expect((await s.order(paid)).status).toBe('paid');
    // Cancelled after its charge: refunded, and the read shows it.
    expect((await h.json('PUT', `/orders/${paid}/cancel`, undefined, user.token)).status).toBe(200);
    expect((await s.order(paid)).status).toBe('cancelled');
    expect((await s.payment(paid)).status).toBe('refunded');
  });

  test('orders and stock: reads follow the saga and a cancel at once', async () => {
    const p = await s.product(4);
    const { id } = (await (await s.place(user.token, p, 2, null)).json()) as { id: string };
    expect((await s.order(id, user.token)).status).toBe('pending');
    const stockRead = async () =>
      (await (await h.json('GET', `/inventory/${p}`, undefined, user.token)).json()) as {
        available: number;
        reserved: number;
      };
    expect(await stockRead()).toMatchObject({ available: 4, reserved: 0 });
    w = await startTestWorkers(h, { concurrency: 2 });
    await eventually(
      () => s.order(id, user.token),
      (o) => o.status === 'reserved',
    );
    expect(await stockRead()).toMatchObject({ available: 2, reserved: 2 });
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(200);
    expect((await s.order(id, user.token)).status).toBe('cancelled');
    expect(await stockRead()).toMatchObject({ available: 4, reserved: 0 });
    // The tests below drive the steps themselves: workers left running would take their orders'
    // queued jobs too (a charge screening the order before the test looks at it).
    await w.stop();
    w = undefined;
  });

  test('a screening verdict without a status change makes the cached order stale: its risk shows at once', async () => {
    const p = await s.product(5);
    const placed = await s.place(user.token, p, 1, null);
    expect(placed.status).toBe(202);
    const { id } = (await placed.json()) as { id: string };
    await reserveOrder(h.deps.orders, id);
    const first = await s.order(id);
    expect(first.status).toBe('reserved');
    expect(first).not.toHaveProperty('risk');
    // A live order is not kept: the next read goes to MySQL, whatever changed.
    expect(await cacheKeys('order')).not.toContain(`${h.prefix}:cache:order:${id}`);

    // Screening approves it: the risk columns are written, the status stays `reserved`.
    const verdict = await applyScreening(h.deps.orders, id, {
      score: 0.05,
      decision: 'approve',
      reasons: ['new_account'],
      model: 'test@0',
    });
    expect(verdict).toBeNull();
    const second = await s.order(id);
    expect(second.status).toBe('reserved');
    expect(second).toMatchObject({
      risk: { score: 0.05, decision: 'approve', reasons: ['new_account'], model: 'test@0' },
    });
  });

  test('the same through a charge batch: screening approves, the gateway is down, the cached order shows its risk', async () => {
    const p = await s.product(5);
    const placed = await s.place(user.token, p, 1);
    expect(placed.status).toBe(202);
    const { id } = (await placed.json()) as { id: string };
    await reserveOrder(h.deps.orders, id);
    expect(await s.order(id)).not.toHaveProperty('risk');
    const real = h.deps.orders.gateway;
    const down = new (class extends ForwardingGateway {
      override async charge(): Promise<never> {
        throw new GatewayUnavailableError('injected: the gateway is down');
      }
    })(real);
    const results = await chargeOrders({ ...h.deps.orders, gateway: down }, [id]);
    expect(results.get(id)?.ok).toBe(false);
    const after = await s.order(id);
    expect(after.status).toBe('reserved');
    expect(after).toMatchObject({ risk: { decision: 'approve' } });
  });

  test('concurrent misses load once (no stampede)', async () => {
    const cache = new ReadThroughCache(h.redis, h.prefix, 30);
    let loads = 0;
    const load = async () => {
      loads++;
      await Bun.sleep(50);
      return { v: 1 };
    };
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.get('probe', 'x', load)));
    expect(results.every((r) => r.v === 1)).toBe(true);
    expect(loads).toBe(1);
  });
});
