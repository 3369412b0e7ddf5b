import { afterAll, beforeAll, expect, test } from 'bun:test';
import { chargeOrders } from '../domain/orders/charge-batch';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { createGateway } from '../wiring/adapters';
import { reconcile } from '../workers/reconcile';
import { createHarness, deleteKeys, type Harness } from './support/harness';
import { ledger, statuses } from './support/orders';
import { shop } from './support/shop';
import { CountingGateway, CountingTransports } from './support/stand-ins';
import { drained, startTestWorkers, type TestWorkers } from './support/workers';

// The reconciler's other half: orders that got past `pending` (stock held, or money taken) and then
// lost their jobs (Redis lost its data, the flow was never written). MySQL is the truth: each is
// carried on from where it stands, charged once and told once.

let h: Harness;
let w: TestWorkers | undefined;
let s: ReturnType<typeof shop>;
let user: { id: string; token: string };
let gateway: CountingGateway;
let transports: CountingTransports;

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000', RECONCILE_AFTER_SECONDS: '60' });
  s = shop(h, await h.signUp('admin'));
  user = await h.signUp('user');
  gateway = new CountingGateway(createGateway(h.config, h.db));
  transports = new CountingTransports();
}, 60_000);
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
}, 60_000);

async function place(productId: string): Promise<string> {
  const res = await s.place(user.token, productId, 1);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

test('reserved and paid orders whose jobs vanished are completed by the reconciler: charged once, emailed once', async () => {
  const p = await s.product(10);
  const reserved = [await place(p), await place(p)];
  const paid = [await place(p), await place(p)];
  const ids = [...reserved, ...paid];
  // The saga's first steps ran (as a worker would have), then Redis lost every job of theirs.
  await reserveOrders(h.deps.orders, ids);
  await chargeOrders({ ...h.deps.orders, gateway }, paid);
  expect(await statuses(h, ids)).toEqual(['reserved', 'reserved', 'paid', 'paid']);
  await deleteKeys(h.redis, h.prefix);
  expect(await h.redis.keys(`${h.prefix}:*`)).toEqual([]);
  // They have not moved for longer than RECONCILE_AFTER_SECONDS.
  await h.pool.query('UPDATE orders SET updated_at = NOW(3) - INTERVAL 5 MINUTE WHERE id IN (?)', [ids]);

  // Workers run the saga's steps; the reconciler is run here, once, so only it can re-add the flows.
  w = await startTestWorkers(h, { gateway, transports, queues: ['reserve', 'charge', 'notify', 'deliver'] });
  const report = await reconcile(w.deps);
  expect(report.readded).toBe(ids.length);

  await drained(
    h.deps.queues,
    async () =>
      (await statuses(h, ids)).every((x) => x === 'completed') &&
      ids.every((id) => transports.of(id, 'email').length > 0),
  );
  // Counted at the gateway: each order asked for its money once (the paid ones before the loss).
  expect(ids.map((id) => gateway.chargeCalls(id))).toEqual([1, 1, 1, 1]);
  // Counted at the provider: each customer got one email.
  expect(ids.map((id) => transports.of(id, 'email').length)).toEqual([1, 1, 1, 1]);
  for (const id of ids) expect(await ledger(h, id)).toEqual({ charges: 1, refunds: 0 });
  expect(await s.stock(p)).toEqual({ available: 6, reserved: 0 });

  // A later pass finds nothing stuck and re-adds nothing: still one charge call and one email each.
  expect((await reconcile(w.deps)).readded).toBe(0);
  await drained(h.deps.queues);
  expect(ids.map((id) => gateway.chargeCalls(id))).toEqual([1, 1, 1, 1]);
  expect(ids.map((id) => transports.of(id, 'email').length)).toEqual([1, 1, 1, 1]);
}, 60_000);
