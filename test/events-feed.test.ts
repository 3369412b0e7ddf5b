import { afterAll, beforeAll, expect, test } from 'bun:test';
import { placeOrders } from '../domain/orders/place-batch';
import { pruneEvents } from '../domain/outbox/retention';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// GET /events pages the outbox in commit order. Transactions commit out of id order, so the test that
// matters holds one transaction open (its event row written, not committed) while later ones commit
// and a reader pages past them: the held event must still reach the reader once it commits.
let h: Harness;
let admin: { id: string; token: string };
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;

interface Ev {
  id: string;
  type: string;
  createdAt: string;
  data: { id: string; status?: string; events?: { to: string }[] };
}
interface Page {
  data: Ev[];
  nextCursor: string;
}

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
}, 30_000);
afterAll(() => h.cleanup(), 30_000);

async function page(after?: string, extra = '', token = admin.token): Promise<Page> {
  const q = new URLSearchParams({ limit: '500', ...(after ? { after } : {}) });
  const res = await h.json('GET', `/events?${q}${extra}`, undefined, token);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

/** Pages until a page comes back empty; returns what it read and the cursor to resume from. */
async function drain(after?: string, seen: Ev[] = []): Promise<{ seen: Ev[]; cursor: string | undefined }> {
  let cursor = after;
  for (;;) {
    const p = await page(cursor);
    expect(typeof p.nextCursor).toBe('string');
    seen.push(...p.data);
    cursor = p.nextCursor;
    if (p.data.length === 0) return { seen, cursor };
  }
}

async function outboxIds(): Promise<string[]> {
  const [rows] = await h.pool.query('SELECT id FROM events ORDER BY id');
  return (rows as { id: number }[]).map((r) => `evt_${r.id}`);
}

test('an order that completes announces each of its steps, each with the order as it was then', async () => {
  const workers: TestWorkers = await startTestWorkers(h);
  try {
    const product = await s.product(10);
    const { cursor: start } = await drain();
    const res = await s.place(user.token, product, 1);
    const { id } = (await res.json()) as { id: string };
    await eventually(
      () => s.order(id),
      (o) => o.status === 'completed',
    );
    const { seen } = await eventually(
      () => drain(start),
      (r) => r.seen.some((e) => e.type === 'order.completed'),
    );
    const mine = seen.filter((e) => e.data.id === id);
    expect(mine.map((e) => e.type)).toEqual([
      'order.created',
      'order.reserved',
      'order.paid',
      'order.completed',
    ]);
    expect(mine.map((e) => e.data.status)).toEqual(['pending', 'reserved', 'paid', 'completed']);
    // Each event's data has the timeline up to itself, not the order's later steps.
    expect(mine.map((e) => e.data.events?.length)).toEqual([1, 2, 3, 4]);
    // The last one is the order as GET shows it now (the feed reads orders by a path of its own).
    expect(mine.at(-1)?.data).toEqual(await s.order(id));
  } finally {
    await workers.stop();
  }
});

test('a refund announces itself: refund.created, then refund.succeeded, each with the refund and its orderId', async () => {
  const workers: TestWorkers = await startTestWorkers(h);
  try {
    const product = await s.product(10);
    const { id } = (await (await s.place(user.token, product, 1)).json()) as { id: string };
    await eventually(
      () => s.order(id),
      (o) => o.status === 'completed',
    );
    const { cursor } = await drain();
    const res = await h.json('POST', `/orders/${id}/refunds`, { amountCents: 500 }, admin.token);
    expect(res.status).toBe(201);
    const { id: refundId } = (await res.json()) as { id: string };
    const { seen } = await eventually(
      () => drain(cursor, []),
      (r) => r.seen.some((e) => e.type === 'refund.succeeded'),
    );
    const mine = seen.filter((e) => e.type.startsWith('refund.'));
    expect(mine.map((e) => e.type)).toEqual(['refund.created', 'refund.succeeded']);
    for (const e of mine) expect(e.data).toMatchObject({ id: refundId, orderId: id, amountCents: 500 });
  } finally {
    await workers.stop();
  }
}, 60_000);

test('a transaction that commits after later ones: its event is still read once it commits', async () => {
  const product = await s.product(1000);
  const placeOne = async () => {
    const res = await s.place(user.token, product, 1);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const { seen, cursor } = await drain();

  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let written!: () => void;
  const isWritten = new Promise<void>((r) => {
    written = r;
  });
  // POST /orders' own batch (its INSERTs, the outbox's among them) in a transaction held open after
  // its rows are written: its event row's id is below those of the orders placed after it.
  const holdOpen = async (statements: { sql: string; params: unknown[] }[]) => {
    const conn = await h.pool.getConnection();
    try {
      await conn.beginTransaction();
      for (const st of statements) await conn.query(st.sql, st.params);
      written();
      await gate;
      await conn.commit();
    } finally {
      conn.release();
    }
  };
  const limits = { maxOrders: 3, maxUnits: 100 };
  const heldBatch = placeOrders(
    h.db,
    h.deps.orders.events,
    [{ userId: user.id, items: [{ productId: product, quantity: 1 }], paymentToken: 'tok_visa' }],
    limits,
    holdOpen,
  );
  await isWritten;
  const later = await Promise.all([placeOne(), placeOne(), placeOne()]);
  // The reader pages past every later event while the held one is still uncommitted.
  const before = await eventually(
    () => drain(cursor, []),
    (r) => later.every((id) => r.seen.some((e) => e.data.id === id)),
  );
  expect(before.seen.length).toBe(3);
  release();
  const [placed] = await heldBatch;
  const held = placed?.ok ? placed.value.orderId : 'not placed';
  const after = await drain(before.cursor, []);
  expect(after.seen.map((e) => [e.type, e.data.id])).toEqual([['order.created', held]]);
  // It really was written before the others (a lower id), yet read after them.
  const num = (e: Ev | undefined) => Number(e?.id.slice('evt_'.length));
  expect(num(after.seen[0])).toBeLessThan(Math.min(...before.seen.map(num)));
  // Nothing skipped, nothing twice: what the reader has is exactly the outbox.
  const all = [...seen, ...before.seen, ...after.seen].map((e) => e.id);
  expect(new Set(all).size).toBe(all.length);
  expect([...all].sort()).toEqual((await outboxIds()).sort());
});

test('10,000 events paged 500 at a time while orders are being placed: none missed, none twice', async () => {
  const product = await s.product(1_000_000, 100);
  const { seen: earlier, cursor: start } = await drain();
  const limits = { maxOrders: 3, maxUnits: 100 };
  let placing = true;
  const writer = h.deps.writeTransaction;
  const place = (async () => {
    // 100 batches of 100 orders, four batches in flight: the group-committed path of POST /orders.
    const batches = Array.from({ length: 100 }, () =>
      Array.from({ length: 100 }, () => ({
        userId: user.id,
        items: [{ productId: product, quantity: 1 }],
        paymentToken: 'tok_visa',
      })),
    );
    for (let i = 0; i < batches.length; i += 4) {
      await Promise.all(
        batches.slice(i, i + 4).map(async (b) => {
          const out = await placeOrders(h.db, h.deps.orders.events, b, limits, writer);
          expect(out.every((r) => r.ok)).toBe(true);
        }),
      );
    }
    placing = false;
  })();
  const read: Ev[] = [];
  let cursor = start;
  let pages = 0;
  for (;;) {
    const done = !placing;
    const p = await page(cursor);
    expect(p.data.length).toBeLessThanOrEqual(500);
    read.push(...p.data);
    cursor = p.nextCursor;
    pages++;
    if (p.data.length === 0 && done) break;
    if (p.data.length === 0) await Bun.sleep(20);
  }
  await place;
  const ids = read.map((e) => e.id);
  expect(ids.length).toBe(10_000);
  expect(new Set(ids).size).toBe(ids.length);
  expect(pages).toBeGreaterThanOrEqual(20);
  expect([...earlier.map((e) => e.id), ...ids].sort()).toEqual((await outboxIds()).sort());
}, 120_000);

test('types filter the feed, and the cursor still moves past the others', async () => {
  const { cursor } = await drain();
  const product = await s.product(10);
  const res = await s.place(user.token, product, 1);
  const { id } = (await res.json()) as { id: string };
  const p = await page(cursor, '&types=order.cancelled');
  expect(p.data).toEqual([]);
  // The order.created just written was passed over: the next read with this cursor starts after it.
  const next = await page(p.nextCursor);
  expect(next.data.some((e) => e.data.id === id)).toBe(false);
  const all = await page(cursor, '&types=order.created,order.cancelled');
  expect(all.data.map((e) => [e.type, e.data.id])).toEqual([['order.created', id]]);
}, 30_000);

test('wrong caller and bad input', async () => {
  expect((await h.json('GET', '/events')).status).toBe(401);
  expect((await h.json('GET', '/events', undefined, user.token)).status).toBe(403);
  // An API key needs events:read (api/access.ts).
  const key = async (scopes: string[]) => {
    const res = await h.json('POST', '/api-keys', { name: 'erp', scopes }, admin.token);
    expect(res.status).toBe(201);
    return ((await res.json()) as { key: string }).key;
  };
  expect((await h.json('GET', '/events', undefined, await key(['orders:read']))).status).toBe(403);
  expect((await h.json('GET', '/events', undefined, await key(['events:read']))).status).toBe(200);
  const bad = await h.json('GET', '/events?types=order.shipped', undefined, admin.token);
  expect(bad.status).toBe(400);
  expect(JSON.stringify(await bad.json())).toContain('order.shipped');
  expect((await h.json('GET', '/events?limit=501', undefined, admin.token)).status).toBe(400);
  expect((await h.json('GET', '/events?after=nonsense', undefined, admin.token)).status).toBe(400);
});

test('retention removes old events in bounded batches, keeping the newest number', async () => {
  await drain();
  await h.pool.query('UPDATE events SET created_at = ? WHERE id > 0', [
    new Date(Date.now() - 40 * 86_400_000),
  ]);
  const [before] = await h.pool.query('SELECT COUNT(*) AS n, MAX(seq) AS top FROM events');
  const { n, top } = (before as { n: number; top: number }[])[0] as { n: number; top: number };
  const cutoff = new Date(Date.now() - 30 * 86_400_000);
  // One pass removes at most batches × batchSize rows.
  expect(await pruneEvents(h.db, cutoff, 100, 3)).toBe(300);
  let left = n - 300;
  while (left > 1) left -= await pruneEvents(h.db, cutoff, 1000, 5);
  const [after] = await h.pool.query('SELECT COUNT(*) AS n, MAX(seq) AS top FROM events');
  expect(after as unknown[]).toEqual([{ n: 1, top }]);
}, 60_000);
