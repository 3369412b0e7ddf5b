import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import type mysql from 'mysql2/promise';
import { createPool, oneRoundTripWriter } from '../db/client';
import { createHarness, type Harness } from './support/harness';

// `POST /orders` stores a batch with one multi-statement transaction (db/client.ts). What matters is
// what happens when a statement in the middle fails: nothing of it stays, and the connection goes
// back to the pool outside any transaction.
let h: Harness;
let pool: mysql.Pool;

beforeAll(async () => {
  h = await createHarness();
  await h.pool.query('CREATE TABLE round_trip (id INT PRIMARY KEY, note VARCHAR(40))');
  // One connection: the call after a failure gets the very connection the failure used.
  pool = createPool(h.config.DATABASE_URL, 1, { acquireTimeoutMs: 5000, queueLimit: 10 }, true);
});
afterAll(async () => {
  await pool?.end();
  await h?.cleanup();
});

const ids = async () => {
  const [rows] = await h.pool.query<RowDataPacket[]>('SELECT id FROM round_trip ORDER BY id');
  return rows.map((r) => Number(r.id));
};
const insert = (id: number, note = 'x') => ({
  sql: 'INSERT INTO round_trip (id, note) VALUES (?, ?)',
  params: [id, note],
});

describe('oneRoundTripWriter', () => {
  test('commits every statement, with values escaped as placeholders', async () => {
    const write = oneRoundTripWriter(pool);
    await write([insert(1, "it's; DROP TABLE round_trip; --"), insert(2)]);
    expect(await ids()).toEqual([1, 2]);
    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT note FROM round_trip WHERE id = 1');
    expect(rows[0]?.note).toBe("it's; DROP TABLE round_trip; --");
  });

  test('a statement that fails after others ran: it throws, nothing of it stays, the next transaction is clean', async () => {
    const write = oneRoundTripWriter(pool);
    // 10 is inserted, then 1 is a duplicate: MySQL stops there, before the COMMIT.
    await expect(write([insert(10), insert(1), insert(11)])).rejects.toThrow(/Duplicate/);
    expect(await ids()).toEqual([1, 2]);
    // The same (only) connection again. Had it gone back still inside the failed transaction, this
    // START TRANSACTION would have committed row 10 implicitly.
    await write([insert(20)]);
    expect(await ids()).toEqual([1, 2, 20]);
  });

  test('a connection killed mid-batch: nothing of the batch commits, and the pool never hands the dead connection out', async () => {
    const write = oneRoundTripWriter(pool);
    const marker = `killed_mid_batch_${Date.now()}`;
    const sleeping = { sql: `SELECT SLEEP(5) AS ${marker}`, params: [] };
    const pending = write([insert(30), sleeping, insert(31)]);
    // The server-side thread running the batch, once it sits in the statement between the INSERTs.
    let id: number | undefined;
    for (let i = 0; i < 100 && id === undefined; i++) {
      const [rows] = await h.pool.query<RowDataPacket[]>(
        'SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE ?',
        [`%${marker}%`],
      );
      id = rows.find((r) => !String(r.INFO ?? '').includes('PROCESSLIST'))?.ID;
      if (id === undefined) await Bun.sleep(20);
    }
    expect(id).toBeDefined();
    await h.pool.query(`KILL CONNECTION ${Number(id)}`);
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(/Connection lost/);
    expect(await ids()).not.toContain(30);
    expect(await ids()).not.toContain(31);
    // The pool's only connection died: the next batch gets a new one, outside any transaction.
    await write([insert(40)]);
    expect(await ids()).toContain(40);
  });
});
