import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Actor } from '../domain/actor';
import { chargeOrders } from '../domain/orders/charge-batch';
import { chargeOrder } from '../domain/orders/charge-one';
import { cancelOrder } from '../domain/orders/compensate';
import type { OrderContext } from '../domain/orders/context';
import { reserveOrders } from '../domain/orders/reserve-batch';
import type { StepOutcome } from '../domain/orders/reserve-one';
import { ForwardingGateway } from '../domain/payments/forwarding-gateway';
import type { ChargeRequest, ChargeResult, RefundRequest } from '../domain/payments/gateway';
import type { MicroBatcher } from '../lib/batcher';
import { createGateway } from '../wiring/adapters';
import type { WorkerDeps } from '../workers/deps';
import { stepBatcher } from '../workers/group-commit';
import type { Harness } from './support/harness';
import { ledger } from './support/orders';
import { startWorkerHarness, type WorkerHarness } from './support/worker-harness';
import { eventually } from './support/workers';

/** The cancels below are a customer's (the actor their timeline rows name). */
const customer: Actor = { type: 'user' };

// The same order in two charge batches at once: a stalled job re-run while its first run is still
// at the gateway, or two worker processes each holding a copy of the job. Both batches find the
// order reserved and ask the gateway; the gateway's idempotency key makes that one charge, and the
// compare-and-set records one `paid`. A cancel racing them ends with the money given back once.

let w: WorkerHarness;
let h: Harness;
let s: WorkerHarness['s'];
let user: WorkerHarness['user'];
let deps: WorkerDeps;

beforeAll(async () => {
  w = await startWorkerHarness('charge-twice');
  ({ h, s, user, deps } = w);
}, 60_000);
afterAll(() => w?.close(), 60_000);

/**
 * One process's gateway client (the configured one, over the shared simulated processor's ledger):
 * every charge call waits until the test releases it, and the keys it was called with are kept.
 */
class HeldGateway extends ForwardingGateway {
  override readonly name = 'held';
  /** Charge calls per order, counted as they arrive (before the hold). */
  readonly calls = new Map<string, number>();
  /** Every idempotency key a charge was asked with, per order. */
  readonly keys = new Map<string, Set<string>>();
  private gate: Promise<void>;
  private open: () => void = () => {};
  constructor() {
    super(createGateway(h.config, h.db));
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }
  release(): void {
    this.open();
  }
  override async charge(req: ChargeRequest): Promise<ChargeResult> {
    const orderId = orderOf(req.idempotencyKey);
    this.calls.set(orderId, (this.calls.get(orderId) ?? 0) + 1);
    const keys = this.keys.get(orderId) ?? new Set();
    keys.add(req.idempotencyKey);
    this.keys.set(orderId, keys);
    await this.gate;
    return this.inner.charge(req);
  }
  /** Refund calls per order (not held). */
  readonly refunds = new Map<string, number>();
  override refund(req: RefundRequest) {
    const orderId = orderOf(req.chargeIdempotencyKey);
    this.refunds.set(orderId, (this.refunds.get(orderId) ?? 0) + 1);
    return this.inner.refund(req);
  }
}

/**
 * What both processes asked of the gateway for one order, counted at the gateway: charge calls,
 * the keys they used (one key for both is what lets the processor answer the second with the first
 * charge), and refund calls.
 */
const asked = (orderId: string, ...gateways: HeldGateway[]) => ({
  charges: gateways.map((g) => g.calls.get(orderId) ?? 0),
  keys: [...new Set(gateways.flatMap((g) => [...(g.keys.get(orderId) ?? [])]))],
  refunds: gateways.reduce((n, g) => n + (g.refunds.get(orderId) ?? 0), 0),
});

/** The order a charge key names (`chg_<order id>`, possibly with more after it). */
const orderOf = (key: string) => /^chg_(ord_[A-Za-z0-9]+)/.exec(key)?.[1] ?? key;

/** A charge step of one worker process, wired as workers/charge.ts wires it: its own batcher and gateway. */
function worker(kind: 'batch' | 'single', gateway: HeldGateway) {
  const ctx: OrderContext = { ...deps.orders, gateway };
  const batcher: MicroBatcher<string, StepOutcome> = stepBatcher(
    deps,
    'charge',
    (ids) => chargeOrders(ctx, ids),
    (id) => chargeOrder(ctx, id),
  );
  return {
    ctx,
    gateway,
    // A batch process submits its orders to its batcher (they go as one batch); a process whose batch
    // failed as a whole decides its orders one by one.
    charge: (ids: string[]) =>
      Promise.all(ids.map((id) => (kind === 'batch' ? batcher.submit(id) : chargeOrder(ctx, id)))),
  };
}

async function place(productId: string): Promise<string> {
  const res = await s.place(user.token, productId, 1);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function timeline(id: string) {
  const [rows] = await h.pool.query(
    'SELECT from_status AS `from`, to_status AS `to` FROM order_events WHERE order_id = ? ORDER BY id',
    [id],
  );
  return (rows as { from: string | null; to: string }[]).map((e) => `${e.from ?? '∅'}→${e.to}`);
}

/** Every key either process asked the processor with for this order (a charge under another key counts too). */
const keysOf = (orderId: string, ...gateways: HeldGateway[]) => [
  ...new Set(gateways.flatMap((g) => [...(g.keys.get(orderId) ?? [])])),
];

async function paymentStatus(orderId: string) {
  const [rows] = await h.pool.query('SELECT status FROM payments WHERE order_id = ?', [orderId]);
  return (rows as { status: string }[]).map((r) => r.status);
}

/** A product, an order shared by both processes, and one order of each process's own. */
async function scene() {
  const p = await s.product(10);
  const shared = await place(p);
  const onlyA = await place(p);
  const onlyB = await place(p);
  await reserveOrders(deps.orders, [shared, onlyA, onlyB]);
  return { p, shared, onlyA, onlyB };
}

describe('the same order in two charge batches at once', () => {
  for (const [kindA, kindB] of [
    ['batch', 'batch'],
    ['batch', 'single'],
  ] as const) {
    test(`${kindA} + ${kindB}: both reach the gateway, one charge, one paid transition`, async () => {
      const { p, shared, onlyA, onlyB } = await scene();
      const a = worker(kindA, new HeldGateway());
      const b = worker(kindB, new HeldGateway());
      const ranA = a.charge([shared, onlyA]);
      const ranB = b.charge([shared, onlyB]);
      // The window this test is about: both past their status check, both asking for the money.
      await eventually(
        () => a.gateway.calls.get(shared) === 1 && b.gateway.calls.get(shared) === 1,
        'both processes at the gateway for the shared order',
        5000,
      );
      a.gateway.release();
      b.gateway.release();
      const [outA, outB] = await Promise.all([ranA, ranB]);

      // One of them recorded the payment; the other found it done.
      expect([outA[0], outB[0]].map((o) => `${o?.status}:${o?.changed}`).sort()).toEqual([
        'paid:false',
        'paid:true',
      ]);
      expect(outA[1]).toEqual({ status: 'paid', changed: true });
      expect(outB[1]).toEqual({ status: 'paid', changed: true });
      // Both asked once, under the one key; the processor kept one charge; nobody asked for a refund.
      expect(asked(shared, a.gateway, b.gateway)).toEqual({
        charges: [1, 1],
        keys: [`chg_${shared}`],
        refunds: 0,
      });
      expect(await ledger(h, shared, keysOf(shared, a.gateway, b.gateway))).toEqual({
        charges: 1,
        refunds: 0,
      });
      expect(await timeline(shared)).toEqual(['∅→pending', 'pending→reserved', 'reserved→paid']);
      expect(await paymentStatus(shared)).toEqual(['succeeded']);
      for (const own of [onlyA, onlyB]) {
        expect(await ledger(h, own, keysOf(own, a.gateway, b.gateway))).toEqual({ charges: 1, refunds: 0 });
        expect(await timeline(own)).toEqual(['∅→pending', 'pending→reserved', 'reserved→paid']);
      }
      expect(await s.stock(p)).toEqual({ available: 7, reserved: 3 });
    });
  }

  test('a cancel while both are at the gateway: cancelled, charged once, refunded once', async () => {
    const { p, shared, onlyA, onlyB } = await scene();
    const a = worker('batch', new HeldGateway());
    const b = worker('batch', new HeldGateway());
    const ranA = a.charge([shared, onlyA]);
    const ranB = b.charge([shared, onlyB]);
    await eventually(
      () => a.gateway.calls.get(shared) === 1 && b.gateway.calls.get(shared) === 1,
      'both processes at the gateway for the shared order',
      5000,
    );
    // The customer cancels now: nothing is charged yet, so the cancel's own refund finds nothing.
    const cancelled = await cancelOrder(a.ctx, shared, customer);
    expect(cancelled.status).toBe('cancelled');
    a.gateway.release();
    b.gateway.release();
    const [outA, outB] = await Promise.all([ranA, ranB]);

    expect(outA[0]).toEqual({ status: 'cancelled', changed: false });
    expect(outB[0]).toEqual({ status: 'cancelled', changed: false });
    // Both charges were answered after the cancel: each process may ask for the refund, under the one
    // charge key, so the processor refunds once (the ledger below).
    // (A refund owed after the batch's commit may still be on its way when the batch returns.)
    const calls = await eventually(
      () => asked(shared, a.gateway, b.gateway),
      (c) => c.refunds >= 1,
      10_000,
      'the refund call',
    );
    // At most one refund call per party: the cancel (it asks, finds nothing yet) and each process.
    expect({ ...calls, refunds: calls.refunds >= 1 && calls.refunds <= 3 }).toEqual({
      charges: [1, 1],
      keys: [`chg_${shared}`],
      refunds: true,
    });
    expect(await ledger(h, shared, keysOf(shared, a.gateway, b.gateway))).toEqual({ charges: 1, refunds: 1 });
    expect(await paymentStatus(shared)).toEqual(['refunded']);
    expect(await timeline(shared)).toEqual(['∅→pending', 'pending→reserved', 'reserved→cancelled']);
    for (const own of [onlyA, onlyB])
      expect(await ledger(h, own, keysOf(own, a.gateway, b.gateway))).toEqual({ charges: 1, refunds: 0 });
    // The cancelled order's unit is back; the two paid ones hold theirs.
    expect(await s.stock(p)).toEqual({ available: 8, reserved: 2 });
  });

  test('a cancel between the two answers: the first recorded paid, the cancel refunds, the second refunds nothing more', async () => {
    const { p, shared, onlyA, onlyB } = await scene();
    const a = worker('batch', new HeldGateway());
    const b = worker('batch', new HeldGateway());
    const ranA = a.charge([shared, onlyA]);
    const ranB = b.charge([shared, onlyB]);
    await eventually(
      () => a.gateway.calls.get(shared) === 1 && b.gateway.calls.get(shared) === 1,
      'both processes at the gateway for the shared order',
      5000,
    );
    a.gateway.release();
    const outA = await ranA;
    expect(outA[0]).toEqual({ status: 'paid', changed: true });
    // Paid and not yet completed: the customer cancels, and the cancel gives the money back.
    const cancelled = await cancelOrder(a.ctx, shared, customer);
    expect(cancelled).toMatchObject({ status: 'cancelled', refund: 'refunded' });
    b.gateway.release();
    const outB = await ranB;

    expect(outB[0]).toEqual({ status: 'cancelled', changed: false });
    // The cancel's refund is the only refund call: the second answer asked for none.
    expect(asked(shared, a.gateway, b.gateway)).toEqual({
      charges: [1, 1],
      keys: [`chg_${shared}`],
      refunds: 1,
    });
    expect(await ledger(h, shared, keysOf(shared, a.gateway, b.gateway))).toEqual({ charges: 1, refunds: 1 });
    expect(await paymentStatus(shared)).toEqual(['refunded']);
    expect(await timeline(shared)).toEqual([
      '∅→pending',
      'pending→reserved',
      'reserved→paid',
      'paid→cancelled',
    ]);
    expect(await s.stock(p)).toEqual({ available: 8, reserved: 2 });
  });
});
