import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { countOrdersByStatus, dayRange, type OrderSearch, searchOrders } from '../domain/orders/search';
import type { OrderStatus } from '../domain/orders/status';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let alice: { id: string; email: string };
let bob: { id: string; email: string };
interface Row {
  id: string;
  userId: string;
  status: OrderStatus;
  at: Date;
}
const rows: Row[] = [];
const statuses: OrderStatus[] = ['completed', 'review', 'pending', 'rejected', 'completed', 'cancelled'];

beforeAll(async () => {
  h = await createHarness();
  alice = await h.signUp('user');
  bob = await h.signUp('user');
  // 40 orders over 4 days, two of them sharing a timestamp (the cursor's tie on id).
  const base = Date.parse('2026-03-01T00:00:00.000Z');
  for (let i = 0; i < 40; i++) {
    const at = new Date(base + Math.floor(i / 2) * 4 * 3600_000);
    const row: Row = {
      id: `ord_search_${String(i).padStart(3, '0')}`,
      userId: i % 3 === 0 ? alice.id : bob.id,
      status: statuses[i % statuses.length] as OrderStatus,
      at,
    };
    rows.push(row);
    await h.pool.query(
      'INSERT INTO orders (id, user_id, status, total_cents, currency, created_at, updated_at) VALUES (?, ?, ?, 100, ?, ?, ?)',
      [row.id, row.userId, row.status, 'EUR', at, at],
    );
  }
});
afterAll(async () => {
  await h.cleanup();
});

const newestFirst = (a: Row, b: Row) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : -1);

/** Every page of a search, following the cursor. */
async function all(search: OrderSearch, limit = 7): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await searchOrders(h.db, search, limit, cursor);
    expect(page.data.length).toBeLessThanOrEqual(limit);
    ids.push(...page.data.map((o) => o.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
  throw new Error('no last page');
}

describe('searching orders for the console', () => {
  test('no filter: every order once, newest first (ties by id), across pages', async () => {
    expect(await all({})).toEqual([...rows].sort(newestFirst).map((r) => r.id));
  });

  test('by status, by customer email (with a status), by date range, by id', async () => {
    expect(await all({ status: 'completed' })).toEqual(
      rows
        .filter((r) => r.status === 'completed')
        .sort(newestFirst)
        .map((r) => r.id),
    );
    expect(await all({ email: alice.email.toUpperCase() })).toEqual(
      rows
        .filter((r) => r.userId === alice.id)
        .sort(newestFirst)
        .map((r) => r.id),
    );
    expect(await all({ email: bob.email, status: 'review' }, 2)).toEqual(
      rows
        .filter((r) => r.userId === bob.id && r.status === 'review')
        .sort(newestFirst)
        .map((r) => r.id),
    );
    const range = dayRange('2026-03-02', '2026-03-03');
    const inRange = rows.filter(
      (r) => r.at >= new Date('2026-03-02T00:00:00Z') && r.at < new Date('2026-03-04T00:00:00Z'),
    );
    expect(inRange.length).toBeGreaterThan(0);
    expect(await all(range, 4)).toEqual([...inRange].sort(newestFirst).map((r) => r.id));
    expect(await all({ orderId: 'ord_search_007' })).toEqual(['ord_search_007']);
    expect(await all({ orderId: 'ord_search_007', status: 'pending' })).toEqual([]);
    expect(await all({ email: 'nobody@example.test' })).toEqual([]);
  });

  test('counts per status', async () => {
    const counts = await countOrdersByStatus(h.db);
    for (const s of new Set(statuses)) expect(counts[s]).toBe(rows.filter((r) => r.status === s).length);
    expect(counts.paid).toBe(0);
  });

  test('the status path reads its index range, not the table (EXPLAIN)', async () => {
    const [plan] = await h.pool.query(
      "EXPLAIN SELECT created_at, id FROM orders WHERE status = 'completed' ORDER BY created_at DESC, id DESC LIMIT 8",
    );
    const [step] = plan as { key: string; Extra: string }[];
    expect(step?.key).toBe('orders_status_created_idx');
    expect(step?.Extra ?? '').not.toContain('filesort');
  });
});
