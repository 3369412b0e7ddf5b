import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Actor } from '../domain/actor';
import { chargeOrder } from '../domain/orders/charge-one';
import { cancelOrder } from '../domain/orders/compensate';
import { refundIfCharged } from '../domain/orders/refund';
import { ForwardingGateway } from '../domain/payments/forwarding-gateway';
import { GatewayUnavailableError } from '../domain/payments/gateway';
import { SimulatedGateway } from '../domain/payments/simulated-gateway';
import { createLogger } from '../lib/logger';
import type { QueueName } from '../queues/contract';
import { buildWorkerDeps } from '../workers/deps';
import { reconcile } from '../workers/reconcile';
import { HeldRefundGateway, LateChargeGateway } from './support/faults';
import { createHarness, type Harness } from './support/harness';
import { ledger, statuses } from './support/orders';
import { shop } from './support/shop';
import { CountingGateway } from './support/stand-ins';
import { eventually, startTestWorkers } from './support/workers';

/** The cancels below are a customer's (the actor their timeline rows name). */
const customer: Actor = { type: 'user' };

// Refunds are network calls made after the order's transaction commits, recorded by compare-and-set,
// and finished by the reconciler. The gateway is the simulated processor on the same MySQL pool as the
// app (as in production), behind a counter at the port.
let h: Harness;
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;
let simulated: SimulatedGateway;
let gateway: CountingGateway;

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000', RECONCILE_AFTER_SECONDS: '1' });
  const admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
  // A slow processor (50 ms a call) keeps many refunds in flight at once.
  simulated = new SimulatedGateway(h.db, { latencyMs: 50, failureRate: 0 });
  gateway = new CountingGateway(simulated);
  // The API's cancel route refunds through this gateway (the route reads the order context per call).
  h.deps.orders.gateway = gateway;
});
afterAll(async () => {
  await h.cleanup();
});

async function withWorkers(queues: QueueName[], fn: () => Promise<void>) {
  const w = await startTestWorkers(h, { queues, concurrency: 10 });
  try {
    await fn();
  } finally {
    await w.stop();
  }
}

/** Orders placed with `tok_visa` and run to `status` (`paid`: reserve and charge; `reserved`: reserve only). */
async function ordersIn(status: 'paid' | 'reserved', n: number, productId: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await s.place(user.token, productId, 1);
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  await withWorkers(status === 'paid' ? ['reserve', 'charge'] : ['reserve'], async () => {
    await eventually(
      () => statuses(h, ids),
      (rows) => rows.every((r) => r === status),
      30_000,
    );
  });
  return ids;
}

async function paymentRow(orderId: string) {
  const [rows] = await h.pool.query(
    'SELECT status, failure_code AS failureCode FROM payments WHERE order_id = ?',
    [orderId],
  );
  return (rows as { status: string; failureCode: string | null }[])[0];
}

const refundCalls = (orderId: string) => gateway.refundCalls(orderId);

/** The reconciler as the maintenance worker runs it, through the counting gateway. */
const reconcilerDeps = (config: Partial<Harness['config']> = {}) =>
  buildWorkerDeps({ ...h.config, ...config }, { db: h.db, redis: h.redis }, createLogger('silent'), {
    gateway,
    queues: h.deps.queues,
  });

/** Runs reconciler passes until the order's payment is refunded. */
async function reconcileUntilRefunded(deps: ReturnType<typeof reconcilerDeps>, id: string) {
  await eventually(
    async () => {
      await reconcile(deps);
      return paymentRow(id);
    },
    (x) => x?.status === 'refunded',
    20_000,
  );
}

describe('refunds outside the order transaction', () => {
  test('2 × pool size concurrent cancels of paid orders all finish, each refunded exactly once', async () => {
    const n = 2 * h.config.DATABASE_POOL_SIZE;
    const p = await s.product(n, 700);
    const ids = await ordersIn('paid', n, p);

    // Before: each cancel held a pooled connection and the order's lock while the gateway (which needs a
    // connection of its own) refunded; as many cancels as connections jammed the pool for good.
    const answers = await Promise.all(
      ids.map((id) => h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)),
    );
    expect(answers.map((r) => r.status)).toEqual(ids.map(() => 200));
    expect(await statuses(h, ids)).toEqual(ids.map(() => 'cancelled'));
    // The refunds really overlapped (the window in which the old code jammed was open).
    expect(gateway.maxRefundsInFlight).toBeGreaterThan(1);
    // One refund call per order at the port, and the processor holds one charge and one refund each.
    expect(ids.map(refundCalls)).toEqual(ids.map(() => 1));
    const money = await Promise.all(ids.map((id) => ledger(h, id)));
    expect(money).toEqual(ids.map(() => ({ charges: 1, refunds: 1 })));
    const payments = await Promise.all(ids.map(paymentRow));
    expect(payments.map((x) => x?.status)).toEqual(ids.map(() => 'refunded'));
    expect(await s.stock(p)).toEqual({ available: n, reserved: 0 });
  }, 90_000);

  test('a cancel whose transaction rolls back refunded nothing: the order completes with its charge', async () => {
    const p = await s.product(1, 900);
    const [id] = (await ordersIn('paid', 1, p)) as [string];
    // The cancel's transaction fails at its transition (as a deadlock or a lost connection would).
    const trigger = `fail_cancel_${id.replace(/\W/g, '')}`.slice(0, 64);
    await h.pool.query(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON order_events FOR EACH ROW
         IF NEW.order_id = ${h.pool.escape(id)} AND NEW.to_status = 'cancelled' THEN
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected: the cancel transaction fails';
         END IF`,
    );
    try {
      const failed = await cancelOrder(h.deps.orders, id, customer).then(
        () => null,
        (err: Error) => err,
      );
      expect(String((failed?.cause as Error | undefined)?.message)).toContain('injected');
    } finally {
      await h.pool.query(`DROP TRIGGER ${trigger}`);
    }
    // Rolled back: still paid, and the gateway was never asked for a refund.
    expect(await statuses(h, [id])).toEqual(['paid']);
    expect(refundCalls(id)).toBe(0);
    // The saga goes on and completes the order; the customer keeps what was bought and paid once.
    await withWorkers(['notify', 'deliver'], async () => {
      await eventually(
        () => statuses(h, [id]),
        ([x]) => x === 'completed',
      );
    });
    expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 0 });
    expect(refundCalls(id)).toBe(0);
  }, 60_000);
  test('a refund the gateway could not take at the cancel is owed, and the reconciler pays it once', async () => {
    const p = await s.product(1, 800);
    const [id] = (await ordersIn('paid', 1, p)) as [string];
    const down = new (class extends ForwardingGateway {
      override async refund(): Promise<never> {
        throw new GatewayUnavailableError('injected: the gateway is down');
      }
    })(simulated);
    // The cancel stands (stock back, order cancelled); the money is owed, not lost.
    const cancelled = await cancelOrder({ ...h.deps.orders, gateway: down }, id, customer);
    expect(cancelled).toMatchObject({ status: 'cancelled', changed: true, refund: 'owed' });
    expect(await s.stock(p)).toEqual({ available: 1, reserved: 0 });
    expect(await paymentRow(id)).toMatchObject({ status: 'succeeded' });
    expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 0 });

    const deps = reconcilerDeps();
    await reconcileUntilRefunded(deps, id);
    // Settled once: later passes leave a refunded payment alone.
    await Bun.sleep(1100);
    await reconcile(deps);
    expect(refundCalls(id)).toBe(1);
    expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 1 });
  }, 60_000);
});

describe('a charge that lands after "not charged"', () => {
  /** A reserved order whose charge call timed out on our side; the processor still holds it. */
  async function chargeInLimbo(): Promise<{ id: string; late: LateChargeGateway }> {
    const p = await s.product(1, 1200);
    const [id] = (await ordersIn('reserved', 1, p)) as [string];
    const late = new LateChargeGateway(simulated);
    await expect(chargeOrder({ ...h.deps.orders, gateway: late }, id)).rejects.toThrow(
      GatewayUnavailableError,
    );
    // The customer cancels: the gateway has no charge yet, so the answer is "not charged".
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(200);
    expect(await paymentRow(id)).toEqual({ status: 'failed', failureCode: 'not_charged' });
    return { id, late };
  }

  test('the reconciler asks the gateway again within the window and refunds the late charge', async () => {
    const { id, late } = await chargeInLimbo();
    await late.land();
    expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 0 });

    const deps = reconcilerDeps();
    await reconcileUntilRefunded(deps, id);
    expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 1 });
    // Asked once at the cancel ("not charged"), then again by the reconciler, which found the charge.
    expect(refundCalls(id)).toBeGreaterThanOrEqual(2);
    expect(await statuses(h, [id])).toEqual(['cancelled']);
  }, 60_000);

  test('past the window the reconciler stops asking', async () => {
    const { id } = await chargeInLimbo();
    const deps = reconcilerDeps({ LATE_CHARGE_WINDOW_SECONDS: 0 });
    const before = refundCalls(id);
    await Bun.sleep(1100); // older than RECONCILE_AFTER_SECONDS, so only the window keeps it out
    await reconcile(deps);
    expect(refundCalls(id)).toBe(before);
  }, 60_000);

  test('a late "not charged" answer never overwrites a refund', async () => {
    const { id, late } = await chargeInLimbo();
    // One refunder reads the payment and asks: "not charged" — but its answer is slow to come back.
    const slow = new HeldRefundGateway(simulated);
    const slowRefund = refundIfCharged({ ...h.deps.orders, gateway: slow }, id);
    await slow.answered.promise;
    // Meanwhile the charge lands and another refunder (the reconciler, say) refunds it.
    await late.land();
    expect(await refundIfCharged(h.deps.orders, id)).toBe('refunded');
    expect(await paymentRow(id)).toMatchObject({ status: 'refunded' });
    // The stale answer arrives last: its write finds the status moved on and changes nothing.
    slow.release();
    expect(await slowRefund).toBe('not_charged');
    expect(await paymentRow(id)).toMatchObject({ status: 'refunded' });
    expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 1 });
  }, 60_000);
});
