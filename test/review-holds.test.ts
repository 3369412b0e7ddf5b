import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { getOrderRow } from '../domain/orders/read';
import { reserveOrder } from '../domain/orders/reserve-one';
import { screenBeforeCharge } from '../domain/orders/screen';
import { ForwardingGateway } from '../domain/payments/forwarding-gateway';
import { createLogger } from '../lib/logger';
import { createGateway } from '../wiring/adapters';
import { buildWorkerDeps } from '../workers/deps';
import { reconcile } from '../workers/reconcile';
import { createHarness, type Harness } from './support/harness';
import { expectJson } from './support/problems';
import { shop } from './support/shop';
import { CountingGateway } from './support/stand-ins';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// An order in review holds its stock (and an authorization) until an admin decides: it counts with the
// user's unpaid reserved orders toward MAX_UNPAID_ORDERS (3 here, the default), so the review queue
// cannot be used to hold stock for free. And the screening test tokens steer screening only with a
// gateway in test mode.

let h: Harness;
let w: TestWorkers;
let gateway: CountingGateway;
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000', RECONCILE_AFTER_SECONDS: '1' });
  gateway = new CountingGateway(createGateway(h.config, h.db));
  h.deps.orders.gateway = gateway;
  w = await startTestWorkers(h, { gateway });
  s = shop(h, await h.signUp('admin'));
}, 60_000);
afterAll(async () => {
  await w.stop();
  await h.cleanup();
}, 60_000);

async function place(token: string, productId: string, payment: string | null) {
  const res = await s.place(token, productId, 2, payment);
  return (await expectJson<{ id: string }>(res, 202)).id;
}

const settled = (id: string) =>
  eventually(
    () => s.order(id),
    (o) => o.status !== 'pending' && o.status !== 'reserved',
  );

describe('review holds count toward MAX_UNPAID_ORDERS', () => {
  test('past the cap, an order that would enter review is rejected (too_many_holds): stock back, nothing authorized', async () => {
    const buyer = await h.signUp('user');
    const p = await s.product(20);
    const held: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await place(buyer.token, p, 'tok_riskLevelElevated');
      expect((await settled(id)).status).toBe('review');
      held.push(id);
    }
    const fourth = await place(buyer.token, p, 'tok_riskLevelElevated');
    const o = await settled(fourth);
    expect(o).toMatchObject({ status: 'rejected', failureReason: 'too_many_holds' });
    expect(gateway.authorizeCalls(fourth)).toBe(0);
    expect(gateway.chargeCalls(fourth)).toBe(0);
    // Three orders of two units held; the fourth's two are back.
    expect(await s.stock(p)).toEqual({ available: 14, reserved: 6 });
    // Nor may it hold one more unpaid.
    expect((await s.place(buyer.token, p, 1, null)).status).toBe(409);
    // An ordinary paid order is not a hold and goes through.
    const paid = await place(buyer.token, p, 'tok_visa');
    await eventually(
      () => s.order(paid),
      (x) => x.status === 'completed',
    );
    // A decision frees a slot.
    expect((await h.json('PUT', `/orders/${held[0]}/cancel`, undefined, buyer.token)).status).toBe(200);
    const fifth = await place(buyer.token, p, 'tok_riskLevelElevated');
    expect((await settled(fifth)).status).toBe('review');
  }, 60_000);

  test('unpaid reserved orders and reviews share the cap', async () => {
    const buyer = await h.signUp('user');
    const p = await s.product(20);
    for (let i = 0; i < 2; i++) {
      const id = await place(buyer.token, p, null);
      await eventually(
        () => s.order(id),
        (o) => o.status === 'reserved',
      );
    }
    const review = await place(buyer.token, p, 'tok_riskLevelElevated');
    expect((await settled(review)).status).toBe('review');
    const over = await place(buyer.token, p, 'tok_riskLevelElevated');
    expect(await settled(over)).toMatchObject({ status: 'rejected', failureReason: 'too_many_holds' });
    expect(gateway.authorizeCalls(over)).toBe(0);
  }, 60_000);
});

describe('screening test tokens and the gateway mode', () => {
  test('with a gateway not in test mode, tok_riskLevelElevated is an ordinary token: no review', async () => {
    const live = new (class extends ForwardingGateway {
      override readonly testMode = false;
    })(createGateway(h.config, h.db));
    const before = h.deps.orders.gateway;
    await w.stop();
    h.deps.orders.gateway = live;
    const liveWorkers = await startTestWorkers(h, { gateway: live });
    try {
      const buyer = await h.signUp('user');
      const p = await s.product(5);
      const id = await place(buyer.token, p, 'tok_riskLevelElevated');
      const done = await eventually(
        () => s.order(id),
        (o) => o.status === 'completed',
      );
      expect(done.events.map((e) => e.to)).not.toContain('review');
      expect((done as unknown as { risk: { reasons: string[] } }).risk.reasons).not.toContain(
        'test_token_elevated',
      );
    } finally {
      await liveWorkers.stop();
      h.deps.orders.gateway = before;
      w = await startTestWorkers(h, { gateway });
    }
  }, 60_000);
});

describe('after a crash', () => {
  test('an order moved to review whose authorization was never asked for is authorized by the reconciler, once', async () => {
    await w.stop();
    try {
      const buyer = await h.signUp('user');
      const p = await s.product(5);
      const id = await place(buyer.token, p, 'tok_riskLevelElevated');
      await reserveOrder(h.deps.orders, id);
      // The charge step committed the move to review, then its process died before the gateway call.
      const ctx = { ...h.deps.orders, gateway };
      const screened = await screenBeforeCharge(ctx, await getOrderRow(h.db, id), { authorize: false });
      expect(screened).toMatchObject({ status: 'review', changed: true });
      expect((await s.payment(id)).status).toBe('pending');
      expect(gateway.authorizeCalls(id)).toBe(0);
      const deps = buildWorkerDeps(h.config, { db: h.db, redis: h.redis }, createLogger('silent'), {
        gateway,
        queues: h.deps.queues,
      });
      const payment = await eventually(
        async () => {
          await Promise.all([reconcile(deps), reconcile(deps)]);
          return s.payment(id);
        },
        (x) => x.status === 'authorized',
        20_000,
      );
      await reconcile(deps);
      expect(payment.transactions.map((t) => t.type)).toEqual(['authorization']);
      // Two passes may ask at once; the gateway's key makes it one authorization, and no pass after it asks.
      expect(gateway.authorizeCalls(id)).toBeLessThanOrEqual(2);
      const calls = gateway.authorizeCalls(id);
      await reconcile(deps);
      expect(gateway.authorizeCalls(id)).toBe(calls);
      expect((await s.order(id)).status).toBe('review');
    } finally {
      w = await startTestWorkers(h, { gateway });
    }
  }, 60_000);
});
