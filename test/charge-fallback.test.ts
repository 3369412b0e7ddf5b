import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Db } from '../db/client';
import { chargeOrders } from '../domain/orders/charge-batch';
import { chargeOrder } from '../domain/orders/charge-one';
import { cancelOrder } from '../domain/orders/compensate';
import type { OrderContext } from '../domain/orders/context';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { createGateway } from '../wiring/adapters';
import type { WorkerDeps } from '../workers/deps';
import { stepBatcher } from '../workers/group-commit';
import type { Harness } from './support/harness';
import { CountingGateway } from './support/stand-ins';
import { startWorkerHarness, type WorkerHarness } from './support/worker-harness';

// A charge batch that fails as a whole (here: its first read loses its connection) is decided again
// one order at a time by chargeOrder, with the batch's outcomes, and chargeOrder is as careful as the
// batch: an order cancelled while the fallback decides it is never charged.

let w: WorkerHarness;
let h: Harness;
let deps: WorkerDeps;

beforeAll(async () => {
  w = await startWorkerHarness('charge-fallback');
  ({ h, deps } = w);
});
afterAll(() => w?.close());

interface Prepared {
  execute: (...args: unknown[]) => Promise<unknown>;
}
type Session = { prepareQuery: (query: { sql: string; params: unknown[] }, ...rest: unknown[]) => Prepared };

/**
 * The app's database handle with a seam at the statement level: `onStatement` sees each statement made
 * outside a transaction before it runs and may fail it (`'fail'`) or run something once it has run.
 */
function seamed(
  db: Db,
  onStatement: (sql: string, params: unknown[]) => 'fail' | (() => Promise<void>) | null,
) {
  const real = (db as unknown as { session: Session }).session;
  const session = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop !== 'prepareQuery') return typeof value === 'function' ? value.bind(target) : value;
      return (query: { sql: string; params: unknown[] }, ...rest: unknown[]) => {
        const prepared = target.prepareQuery(query, ...rest);
        const seam = onStatement(query.sql, query.params);
        if (seam === null) return prepared;
        const execute = prepared.execute.bind(prepared);
        prepared.execute = async (...args: unknown[]) => {
          if (seam === 'fail') throw new Error('injected: the connection was lost');
          const result = await execute(...args);
          await seam();
          return result;
        };
        return prepared;
      };
    },
  });
  return new Proxy(db, {
    get(target, prop, receiver) {
      return prop === 'session' ? session : Reflect.get(target, prop, receiver);
    },
  });
}

test('a charge batch that fails as a whole falls back order by order: the same outcomes, and an order cancelled during the fallback is never charged', async () => {
  const p = await w.s.product(20);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await w.s.place(w.user.token, p, 1);
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  const declined = (
    (await (await w.s.place(w.user.token, p, 1, 'tok_chargeDeclined')).json()) as { id: string }
  ).id;
  await reserveOrders(deps.orders, [...ids, declined]);
  const [kept, cancelled, other] = ids as [string, string, string];
  const gateway = new CountingGateway(createGateway(h.config, h.db));
  let batchesFailed = 0;
  let cancels = 0;
  const db = seamed(h.db, (sql, params) => {
    // The batch's first read (its fraud facts and payment mode): the connection drops.
    if (sql.includes('AS `accountCreated`')) {
      batchesFailed++;
      return 'fail';
    }
    // The fallback has screened this order (its approval stored) and is about to take its money: the
    // customer's cancel commits now.
    if (/^update `orders` set `risk_score`/i.test(sql) && params.includes(cancelled)) {
      return async () => {
        cancels++;
        await cancelOrder({ ...deps.orders, gateway }, cancelled, { type: 'user', id: w.user.id });
      };
    }
    return null;
  });
  const ctx: OrderContext = { ...deps.orders, db: db as Db, gateway };
  const batcher = stepBatcher(
    { ...deps, config: { ...deps.config, GROUP_COMMIT_MAX: 10, GROUP_COMMIT_WAIT_MS: 20 } },
    'charge',
    (batch) => chargeOrders(ctx, batch),
    (id) => chargeOrder(ctx, id),
  );
  const outcomes = await Promise.all([...ids, declined].map((id) => batcher.submit(id)));
  expect(batchesFailed).toBeGreaterThanOrEqual(1);
  expect(cancels).toBe(1);
  expect(outcomes).toEqual([
    { status: 'paid', changed: true },
    { status: 'cancelled', changed: false },
    { status: 'paid', changed: true },
    { status: 'payment_failed', changed: true },
  ]);
  expect(gateway.chargeCalls(kept)).toBe(1);
  expect(gateway.chargeCalls(other)).toBe(1);
  expect(gateway.chargeCalls(declined)).toBe(1);
  // The cancelled order: no charge asked for, nothing in the processor's ledger, nothing to refund.
  expect(gateway.chargeCalls(cancelled)).toBe(0);
  expect(gateway.refundCalls(cancelled)).toBe(0);
  expect(await gateway.transactions(`chg_${cancelled}`)).toEqual([]);
  // Stock: two sold (still held until notify), the cancelled and the declined ones back.
  expect(await w.s.stock(p)).toEqual({ available: 18, reserved: 2 });
}, 30_000);
