import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { caseWhen, marks, select, valueRows, write } from '../db/raw';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.pool.query('CREATE TABLE raw_t (id VARCHAR(8) PRIMARY KEY, n INT UNSIGNED NOT NULL)');
});
afterAll(async () => {
  await h.cleanup();
});

describe('hand-built statements (db/raw.ts)', () => {
  test('placeholders: one per value, CASE entries pushed in order, rows of VALUES', () => {
    expect(marks(1)).toBe('?');
    expect(marks(3)).toBe('?, ?, ?');
    const params: unknown[] = [];
    expect(
      caseWhen(
        '`k`',
        [
          ['a', 1],
          ['b', null],
        ] as const,
        params,
      ),
    ).toBe('CASE `k` WHEN ? THEN ? WHEN ? THEN ? END');
    expect(caseWhen('`k`', [['c', 2]] as const, params, '`v`')).toBe('CASE `k` WHEN ? THEN ? ELSE `v` END');
    expect(params).toEqual(['a', 1, 'b', null, 'c', 2]);
    expect(valueRows(2, 2)).toBe('(?, ?), (?, ?)');
  });

  test('values stay parameters: a quote in a value is stored as it is', async () => {
    const evil = "x'); --";
    await write(h.db, `INSERT INTO raw_t (id, n) VALUES ${valueRows(2, 2)}`, ['q1', 1, evil.slice(0, 8), 2]);
    const rows = await select<{ id: string; n: number }>(
      h.db,
      `SELECT id, n FROM raw_t WHERE id IN (${marks(2)}) ORDER BY n`,
      ['q1', evil.slice(0, 8)],
    );
    expect(rows).toEqual([
      { id: 'q1', n: 1 },
      { id: evil.slice(0, 8), n: 2 },
    ]);
  });

  test("a statement joins the caller's transaction: rolled back with it", async () => {
    let affected: number | undefined;
    const rollback = new Error('roll back');
    const outcome = await h.db
      .transaction(async (tx) => {
        const res = await write(tx, 'UPDATE raw_t SET n = n + 10 WHERE id = ?', ['q1']);
        affected = res.affectedRows;
        // Inside the transaction the change is there (the statement ran on the transaction's connection).
        const [inside] = await select<{ n: number }>(tx, 'SELECT n FROM raw_t WHERE id = ?', ['q1']);
        expect(inside?.n).toBe(11);
        throw rollback;
      })
      .catch((e: unknown) => e);
    // Only the rollback the test threw ends the transaction: a failed expect inside would surface here.
    expect(outcome).toBe(rollback);
    expect(affected).toBe(1);
    const [row] = await select<{ n: number }>(h.db, 'SELECT n FROM raw_t WHERE id = ?', ['q1']);
    expect(row?.n).toBe(1);
  });

  test("a failure is drizzle's error with mysql2's as its cause (errno kept for the callers that read it)", async () => {
    const err = await write(h.db, 'UPDATE raw_t SET n = n - ? WHERE id = ?', [5, 'q1']).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DrizzleQueryError);
    expect((err as DrizzleQueryError).cause).toMatchObject({ errno: 1690 });
  });
});
