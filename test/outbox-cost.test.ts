import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Statement } from '../db/client';
import { select } from '../db/raw';
import { transitionMany } from '../domain/orders/group-commit';
import { placeOrders } from '../domain/orders/place-batch';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

// The outbox's cost on the order path: one more multi-row INSERT per batch, whatever its size.
let h: Harness;
let user: { id: string };
let product: string;

beforeAll(async () => {
  h = await createHarness();
  const admin = await h.signUp('admin');
  user = await h.signUp('user');
  product = await shop(h, admin).product(10_000);
}, 30_000);
afterAll(() => h.cleanup(), 30_000);

const limits = { maxOrders: 3, maxUnits: 100 };
const input = () => ({
  userId: user.id,
  items: [{ productId: product, quantity: 1 }],
  paymentToken: 'tok_visa',
});

async function placeBatch(n: number): Promise<{ statements: Statement[]; ids: string[] }> {
  let statements: Statement[] = [];
  // POST /orders' writer, counting what it is handed (its statements run in one round trip).
  const write = async (list: Statement[]) => {
    statements = list;
    await h.deps.writeTransaction(list);
  };
  const out = await placeOrders(h.db, h.deps.orders.events, Array.from({ length: n }, input), limits, write);
  return { statements, ids: out.map((r) => (r.ok ? r.value.orderId : '')) };
}

test('placing: a batch of 1 and a batch of 50 both send four INSERTs (orders, items, timeline, outbox)', async () => {
  const one = await placeBatch(1);
  const fifty = await placeBatch(50);
  expect(one.statements.length).toBe(4);
  expect(fifty.statements.length).toBe(4);
  expect(fifty.statements.filter((s) => s.sql.startsWith('INSERT INTO `events`')).length).toBe(1);
  const [rows] = await h.pool.query(
    "SELECT COUNT(*) AS n FROM events WHERE type = 'order.created' AND order_id IN (?)",
    [fifty.ids],
  );
  expect(rows as unknown[]).toEqual([{ n: 50 }]);
});

test('a saga step batch: the compare-and-set of 40 orders runs 2 INSERTs in all (timeline and outbox)', async () => {
  const { ids } = await placeBatch(40);
  const comInsert = async (tx: Parameters<Parameters<typeof h.db.transaction>[0]>[0]) =>
    Number((await select<{ Value: string }>(tx, "SHOW SESSION STATUS LIKE 'Com_insert'", []))[0]?.Value);
  let inserts = -1;
  await h.db.transaction(async (tx) => {
    const before = await comInsert(tx);
    await transitionMany(
      tx,
      'pending',
      ids.map((orderId) => ({ orderId, to: 'cancelled' as const, reason: 'cost test' })),
      new Date(),
    );
    inserts = (await comInsert(tx)) - before;
  });
  expect(inserts).toBe(2);
  const [rows] = await h.pool.query(
    "SELECT COUNT(*) AS n FROM events WHERE type = 'order.cancelled' AND order_id IN (?)",
    [ids],
  );
  expect(rows as unknown[]).toEqual([{ n: 40 }]);
});
