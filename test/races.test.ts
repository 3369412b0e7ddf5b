import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createGateway } from '../wiring/adapters';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { CountingGateway, type GatePoint } from './support/stand-ins';
import { eventually, finalStatuses, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers;
let gateway: CountingGateway;

beforeAll(async () => {
  // A slow gateway widens the window in which a cancel can land while a charge is in flight.
  // The reconciler runs often, in case a refund owed is left to it.
  h = await createHarness({
    GATEWAY_LATENCY_MS: '40',
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
    RECONCILE_EVERY_MS: '500',
    RECONCILE_AFTER_SECONDS: '5',
  });
  gateway = new CountingGateway(createGateway(h.config, h.db));
  w = await startTestWorkers(h, { concurrency: 10, gateway });
});
afterAll(async () => {
  gateway?.releaseAll();
  await w.stop();
  await h.cleanup();
});

/** Waits for `p`, failing with `what` instead of hanging the test. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen in ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('cancels racing the saga: every order ends once, and stock and money add up', async () => {
  const admin = await h.signUp('admin');
  const buyer = await h.signUp('user');
  const s = shop(h, admin);
  const cancel = async (id: string) =>
    (await h.json('PUT', `/orders/${id}/cancel`, undefined, buyer.token)).status;
  const place = async (product: string) => {
    const res = await s.place(buyer.token, product, 1);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };

  // Deterministic windows: these orders' charges are held in flight, at the gateway's door ('before')
  // or after it took the money but before the app heard ('after'), while the customer cancels.
  const gatedProduct = await s.product(8, 300);
  const points: GatePoint[] = ['before', 'before', 'before', 'before', 'after', 'after', 'after', 'after'];
  const gatedRun = Promise.all(
    points.map(async (point) => {
      const id = await place(gatedProduct);
      gateway.gate(id, point);
      return id;
    }),
  ).then((ids) =>
    Promise.all(
      ids.map(async (id) => {
        await within(gateway.inFlight(id), 30_000, `the charge of ${id} reaching the gateway`);
        const answer = await cancel(id);
        gateway.release(id);
        return { id, answer };
      }),
    ),
  );

  // Random windows: each order is cancelled at a different moment of its life; every tenth only
  // once it is final (a cancel that comes too late).
  const p = await s.product(40, 250);
  const placed = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const id = await place(p);
      if (i % 10 === 9)
        await eventually(
          async () => (await s.order(id)).status,
          (st) => finalStatuses.has(st),
          30_000,
        );
      else await Bun.sleep((i % 10) * 60);
      return { id, answer: await cancel(id), late: i % 10 === 9 };
    }),
  );
  const gated = await gatedRun;

  // Every cancel that landed while a charge was in flight was accepted.
  expect(gated.map((g) => g.answer)).toEqual(points.map(() => 200));
  expect(placed.every((o) => o.answer === 200 || o.answer === 409)).toBe(true);
  // Both sides of the race were hit: some cancels won, and every late one was refused.
  expect(placed.some((o) => o.answer === 200)).toBe(true);
  expect(placed.filter((o) => o.late).map((o) => o.answer)).toEqual(Array(5).fill(409));

  const all = [...gated, ...placed];
  const ids = all.map((o) => o.id);
  const rows = await eventually(
    async () => {
      const [r] = await h.pool.query('SELECT id, status FROM orders WHERE id IN (?)', [ids]);
      return r as { id: string; status: string }[];
    },
    (r) => r.length === ids.length && r.every((o) => finalStatuses.has(o.status)),
    30_000,
  );
  const status = new Map(rows.map((r) => [r.id, r.status]));
  // A 200 means this cancel ended the order; a 409 means the order was already final.
  for (const o of all) {
    const end = status.get(o.id);
    expect({ id: o.id, answer: o.answer, end: o.answer === 200 ? end : end === 'cancelled' }).toEqual({
      id: o.id,
      answer: o.answer,
      end: o.answer === 200 ? 'cancelled' : false,
    });
  }

  // Each order's timeline (as the API shows it) has exactly one final transition, and it is the last.
  for (const id of ids) {
    const order = await s.order(id);
    const finals = order.events.filter((e) => finalStatuses.has(e.to));
    expect({ id, finals: finals.map((e) => e.to) }).toEqual({ id, finals: [order.status] });
    expect(order.events.at(-1)?.to).toBe(order.status);
  }

  // Money, the gateway's side: its ledger (what the processor itself recorded) per order. A refund
  // owed may be paid after the order is final (after commit, or by the reconciler): wait until the
  // ledger settles, i.e. every completed order keeps one charge and every other keeps none.
  const readLedger = async () => {
    const [rows] = await h.pool.query(
      `SELECT payment_ref AS ref,
              SUM(CASE WHEN type = 'charge' THEN 1 ELSE 0 END) AS charges,
              SUM(CASE WHEN type = 'refund' THEN 1 ELSE 0 END) AS refunds
         FROM gateway_transactions WHERE outcome = 'succeeded' AND payment_ref IN (?) GROUP BY payment_ref`,
      [ids.map((id) => `chg_${id}`)],
    );
    return new Map(
      (rows as { ref: string; charges: number; refunds: number }[]).map((l) => [
        l.ref.slice('chg_'.length),
        { charges: Number(l.charges), refunds: Number(l.refunds) },
      ]),
    );
  };
  const kept = (l: Map<string, { charges: number; refunds: number }>, id: string) =>
    (l.get(id)?.charges ?? 0) - (l.get(id)?.refunds ?? 0);
  const ledger = await eventually(
    readLedger,
    (l) => ids.every((id) => kept(l, id) === (status.get(id) === 'completed' ? 1 : 0)),
    30_000,
  ).catch(() => readLedger());
  const money = (id: string) => ledger.get(id) ?? { charges: 0, refunds: 0 };
  for (const id of ids) {
    const m = money(id);
    const completed = status.get(id) === 'completed';
    // A completed order has exactly one charge kept; any other order keeps no money.
    expect({ id, charges: m.charges <= 1, kept: m.charges - m.refunds }).toEqual({
      id,
      charges: true,
      kept: completed ? 1 : 0,
    });
    // And the workers asked the gateway to charge a completed order exactly once, a rejected one
    // never, any order at most once.
    expect({ id, atMostOnce: gateway.chargeCalls(id) <= 1 }).toEqual({ id, atMostOnce: true });
    if (completed) expect({ id, calls: gateway.chargeCalls(id) }).toEqual({ id, calls: 1 });
    if (status.get(id) === 'rejected')
      expect({ id, calls: gateway.chargeCalls(id) }).toEqual({ id, calls: 0 });
  }
  // The windows were really hit: every gated charge reached the processor and was given back.
  for (const { id } of gated) expect({ id, ...money(id) }).toEqual({ id, charges: 1, refunds: 1 });
  // Each with one charge call (the refunds are the API's cancel, through its own gateway client).
  for (const { id } of gated) expect({ id, charge: gateway.chargeCalls(id) }).toEqual({ id, charge: 1 });
  // (The random part usually refunds some too; the gated part guarantees at least eight.)
  expect([...ledger.values()].filter((m) => m.refunds > 0).length).toBeGreaterThanOrEqual(points.length);

  // Money, the app's side: what GET /payment/status says agrees with the ledger, once settled.
  for (const id of ids) {
    const m = money(id);
    const expected = status.get(id) === 'completed' ? 'succeeded' : m.charges > 0 ? 'refunded' : null;
    const pay = await eventually(
      () => s.payment(id),
      (v) => (expected ? v.status === expected : v.status !== 'succeeded' && v.status !== 'refunded'),
      30_000,
    );
    expect(pay.transactions.map((t) => t.type).sort()).toEqual(
      [...Array(m.charges).fill('charge'), ...Array(m.refunds).fill('refund')].sort(),
    );
  }

  // Stock: nothing left held, and what is gone is exactly what completed orders took.
  const completedOf = (product: string[]) => product.filter((id) => status.get(id) === 'completed').length;
  expect(await s.stock(p)).toEqual({ available: 40 - completedOf(placed.map((o) => o.id)), reserved: 0 });
  expect(await s.stock(gatedProduct)).toEqual({ available: 8, reserved: 0 });
}, 90_000);
