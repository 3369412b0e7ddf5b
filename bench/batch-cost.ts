/**
 * What one batch of each group-commit step costs in SQL statements, for batches of 1, 2 and 5 orders:
 * `bun run bench/batch-cost.ts` (add `--sql` to print the statements). It runs the steps' batch
 * functions directly against a database of its own on the server the tests use (TEST_MYSQL_URL,
 * TEST_REDIS_URL), so the count is exact and no other client's statements mix in. Every statement
 * the process sends through mysql2 is counted (BEGIN and COMMIT too, as the server's `Questions`
 * does); the simulated gateway's ledger insert is one per charged order.
 */
import mysql from 'mysql2';
import { chargeOrders } from '../domain/orders/charge-batch';
import { completeAndRecordOutcomes } from '../domain/orders/complete';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { jobIds } from '../queues/contract';
import { createHarness } from '../test/support/harness';
import { shop } from '../test/support/shop';
import { buildWorkerDeps } from '../workers/deps';

const statements: string[] = [];
let counting = false;
// Every query and execute of every pooled connection goes through these two methods.
const proto = (mysql as unknown as { Connection: { prototype: Record<string, unknown> } }).Connection
  .prototype;
for (const method of ['query', 'execute']) {
  const original = proto[method] as (...args: unknown[]) => unknown;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    const q = args[0] as string | { sql: string };
    if (counting) statements.push((typeof q === 'string' ? q : q.sql).replace(/\s+/g, ' ').slice(0, 140));
    return original.apply(this, args);
  };
}

const printSql = process.argv.includes('--sql');
const h = await createHarness();
const redis = createRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker', `${h.prefix}:w`);
try {
  const s = shop(h, await h.signUp('admin'));
  const user = await h.signUp('user');
  const deps = buildWorkerDeps(h.config, { db: h.db, redis }, createLogger('silent'));
  const [p, q] = [await s.product(1_000_000), await s.product(1_000_000)];
  const rows: Record<string, number | string>[] = [];
  for (const size of [1, 2, 5]) {
    const ids: string[] = [];
    // Placed one by one (each its own batch of one on the API), lines of one or two products.
    for (let i = 0; i < size; i++) {
      const items =
        i % 2
          ? [
              { productId: p, quantity: 1 },
              { productId: q, quantity: 1 },
            ]
          : [{ productId: p, quantity: 1 }];
      const res = await h.json('POST', '/orders', { items, payment: { token: 'tok_visa' } }, user.token);
      ids.push(((await res.json()) as { id: string }).id);
    }
    const row: Record<string, number | string> = { orders: size };
    for (const [step, run] of [
      ['reserve', () => reserveOrders(deps.orders, ids)],
      ['charge', () => chargeOrders(deps.orders, ids)],
      ['notify', () => completeAndRecordOutcomes(deps.orders, ids, jobIds.sendBatch())],
    ] as const) {
      statements.length = 0;
      counting = true;
      const out = await run();
      counting = false;
      for (const [id, r] of out) if (!r.ok) throw new Error(`${step} failed for ${id}: ${String(r.error)}`);
      row[step] = statements.length;
      if (printSql) console.log(`${step}, batch of ${size}:\n  ${statements.join('\n  ')}`);
    }
    row['per order'] = ((Number(row.reserve) + Number(row.charge) + Number(row.notify)) / size).toFixed(1);
    rows.push(row);
  }
  console.table(rows);
  await deps.queues.close();
} finally {
  redis.disconnect();
  await h.cleanup();
}
process.exit(0);
