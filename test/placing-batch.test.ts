import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import type mysql from 'mysql2/promise';
import { createApp } from '../api/app';
import { createPool, oneRoundTripWriter, type TransactionWriter } from '../db/client';
import { createLogger } from '../lib/logger';
import { commitCuttingProxy } from './support/faults';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

// `POST /orders` stores the requests of a few milliseconds in one multi-statement transaction on a
// pool of its own (db/client.ts, api/placing.ts). Here: what that batch does with escaping under a
// server's NO_BACKSLASH_ESCAPES, with a replayed Idempotency-Key among new orders, and when the
// connection is lost after COMMIT was sent.

let h: Harness;
let product: string;
const pools: mysql.Pool[] = [];
const limits = { acquireTimeoutMs: 5000, queueLimit: 100 };

beforeAll(async () => {
  h = await createHarness();
  product = await shop(h, await h.signUp('admin')).product(10_000);
});
afterAll(async () => {
  for (const p of pools) await p.end().catch(() => {});
  await h.cleanup();
});

function placingPool(url = h.config.DATABASE_URL): mysql.Pool {
  const pool = createPool(url, 1, limits, true);
  pools.push(pool);
  return pool;
}

/** The harness's app, its order batches written through `writer`. */
function appWith(writer: TransactionWriter, logger = h.deps.logger) {
  return createApp({ ...h.deps, logger, writeTransaction: writer }, h.live);
}

function place(app: ReturnType<typeof createApp>, token: string, key?: string) {
  return app.request('/orders', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body: JSON.stringify({ items: [{ productId: product, quantity: 1 }], payment: { token: 'tok_visa' } }),
  });
}

async function ordersOf(userId: string): Promise<{ id: string; key: string | null }[]> {
  const [rows] = await h.pool.query<RowDataPacket[]>(
    'SELECT id, idempotency_key AS k FROM orders WHERE user_id = ? ORDER BY id',
    [userId],
  );
  return rows.map((r) => ({ id: String(r.id), key: r.k === null ? null : String(r.k) }));
}

/** A writer that counts the batches it was given and the ones that failed. */
function counting(inner: TransactionWriter) {
  const counts = { batches: 0, failed: 0 };
  const writer: TransactionWriter = async (statements) => {
    counts.batches++;
    try {
      await inner(statements);
    } catch (err) {
      counts.failed++;
      throw err;
    }
  };
  return { writer, counts };
}

describe('escaping', () => {
  test('Idempotency-Keys full of quotes and backslashes, on a session with NO_BACKSLASH_ESCAPES, are stored as sent', async () => {
    const pool = placingPool();
    // The session as a server whose sql_mode includes NO_BACKSLASH_ESCAPES starts it (set on this
    // test's own connection only: the MariaDB is shared).
    await pool.query("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    const [[mode]] = await pool.query<RowDataPacket[]>('SELECT @@SESSION.sql_mode AS m');
    expect(String(mode?.m)).toContain('NO_BACKSLASH_ESCAPES');
    const app = appWith(oneRoundTripWriter(pool));
    const user = await h.signUp();
    const keys = ["it's", '\\', '\\\'"', "a\\');SELECT(1);--", "'\\\\''\\"];
    const ids: string[] = [];
    for (const key of keys) {
      const res = await place(app, user.token, key);
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    expect(await ordersOf(user.id)).toEqual(keys.map((key, i) => ({ id: ids[i] as string, key })));
    // A replay of each finds its order: the key stored is the key sent.
    for (const [i, key] of keys.entries()) {
      const again = await place(app, user.token, key);
      expect(again.status).toBe(200);
      expect(((await again.json()) as { id: string }).id).toBe(ids[i] as string);
    }
  });
});

describe('every pool', () => {
  test('a new connection on a server whose sql_mode has NO_BACKSLASH_ESCAPES is made safe before its first query', async () => {
    const pool = createPool(h.config.DATABASE_URL, 1, limits);
    pools.push(pool);
    // The server's default mode, as far as this pool's new connections go: set before anything of
    // createPool's own runs on them (the MariaDB is shared, so no SET GLOBAL).
    pool.pool.prependListener('connection', (connection: { query: (sql: string) => unknown }) => {
      connection.query("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    });
    const value = "a\\'b\\";
    const [[row]] = await pool.query<RowDataPacket[]>('SELECT ? AS v, @@SESSION.sql_mode AS m', [value]);
    expect(String(row?.m)).not.toContain('NO_BACKSLASH_ESCAPES');
    expect(row?.v).toBe(value);
  });
});

describe('a replayed Idempotency-Key', () => {
  test('never fails the batch it arrives in: the new orders beside it are written once, the replay answered with the first order', async () => {
    const { writer, counts } = counting(oneRoundTripWriter(placingPool()));
    const warnings: string[] = [];
    const logger = createLogger('warn', {}, { write: (l: string) => warnings.push(l) });
    const app = appWith(writer, logger);
    const user = await h.signUp();
    const first = await place(app, user.token, 'replayed-key');
    expect(first.status).toBe(202);
    const firstId = ((await first.json()) as { id: string }).id;
    const answers = await Promise.all([
      place(app, user.token, 'replayed-key'),
      place(app, user.token),
      place(app, user.token, 'new-key-1'),
      place(app, user.token),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 202, 202, 202]);
    const [replay] = answers;
    if (!replay) throw new Error('no answer to the replay');
    expect(((await replay.json()) as { id: string }).id).toBe(firstId);
    expect(counts.failed).toBe(0);
    expect(warnings.filter((l) => l.includes('failed as a whole'))).toEqual([]);
    expect((await ordersOf(user.id)).length).toBe(4);
  });
});

describe('a connection lost after COMMIT was sent', () => {
  test('the batch is looked up before anything is placed again: no order twice, each request answered once with its order, each flow started', async () => {
    const proxy = await commitCuttingProxy(h.config.DATABASE_URL);
    try {
      const pool = placingPool(proxy.url);
      const app = appWith(oneRoundTripWriter(pool));
      const user = await h.signUp();
      proxy.arm(async () => (await ordersOf(user.id)).length > 0);
      const keys = [undefined, undefined, 'ambiguous-1', undefined, 'ambiguous-2', undefined];
      const answers = await Promise.all(keys.map((k) => place(app, user.token, k)));
      await proxy.cut;
      expect(answers.map((r) => r.status)).toEqual(keys.map(() => 202));
      const answered = await Promise.all(answers.map(async (r) => ((await r.json()) as { id: string }).id));
      expect(new Set(answered).size).toBe(keys.length);
      const stored = await ordersOf(user.id);
      expect(stored.map((o) => o.id).sort()).toEqual([...answered].sort());
      // Every order's flow was added (no worker runs here: its jobs are still there).
      for (const id of answered) expect(await h.deps.queues.hasLiveJobs(id)).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
