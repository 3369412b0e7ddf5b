import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';

/**
 * The commit order of the outbox. Auto-increment ids are taken when a row is inserted, not when its
 * transaction commits: a reader paging by id would pass id 7 while id 5's transaction is still open,
 * and never come back for it. So readers page by `seq` instead, which one sequencer at a time (a
 * MySQL named lock, per database) gives to rows that have committed, in id order: a plain read sees
 * only committed rows, so an open transaction's row stays unnumbered until it commits and then gets
 * a number above every one given before. Each pass numbers its rows in one autocommitted UPDATE and
 * releases the lock only after it, so numbers become visible in order, never with a hole a reader
 * could step over.
 *
 * Anyone may call it (the events feed before a read, the webhook dispatcher); whoever does not get
 * the lock within `waitSeconds` returns, and the holder's pass numbers what it would have.
 */
const LOCK = "CONCAT('orderflow_events_seq.', DATABASE())";

export async function sequenceEvents(db: Db, opts: { batch?: number; waitSeconds?: number } = {}) {
  const batch = opts.batch ?? 2000;
  const conn = await db.$client.getConnection();
  let numbered = 0;
  try {
    const [got] = await conn.query<RowDataPacket[]>(`SELECT GET_LOCK(${LOCK}, ?) AS got`, [
      opts.waitSeconds ?? 2,
    ]);
    if (got[0]?.got !== 1) return 0;
    try {
      for (;;) {
        const [rows] = await conn.query<RowDataPacket[]>(
          'SELECT `id` FROM `events` WHERE `seq` IS NULL ORDER BY `id` LIMIT ?',
          [batch],
        );
        if (rows.length === 0) break;
        const [top] = await conn.query<RowDataPacket[]>(
          'SELECT COALESCE(MAX(`seq`), 0) AS `top` FROM `events`',
        );
        const ids = rows.map((r) => Number(r.id));
        const { set, where, params } = numbering(ids, Number(top[0]?.top ?? 0));
        // Only the named rows are locked: by primary key ranges that hold nothing but them (a small
        // table would otherwise be scanned, locking an open transaction's row too and waiting for it),
        // at READ COMMITTED (this statement only), which never waits for a row it does not change.
        await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        await conn.query(
          `UPDATE \`events\` FORCE INDEX (PRIMARY) SET \`seq\` = ${set} WHERE ${where}`,
          params,
        );
        numbered += ids.length;
        if (rows.length < batch) break;
      }
    } finally {
      await conn.query(`SELECT RELEASE_LOCK(${LOCK})`);
    }
  } finally {
    conn.release();
  }
  return numbered;
}

/**
 * The numbering of `ids` (ascending, all unnumbered) after `top`, as SQL: each run of consecutive ids
 * gets `seq = id + offset`, so a pass of thousands of rows is one statement whose size grows with its
 * runs (a run ends where an id is missing: a transaction still open, or rolled back), not a CASE of
 * one branch per row that the server evaluates for every row (quadratic in the pass).
 */
export function numbering(
  ids: readonly number[],
  top: number,
): { set: string; where: string; params: unknown[] } {
  const runs: { from: number; to: number; offset: number }[] = [];
  let next = top;
  for (const id of ids) {
    const run = runs.at(-1);
    if (run && id === run.to + 1) run.to = id;
    else runs.push({ from: id, to: id, offset: next + 1 - id });
    next++;
  }
  const params: unknown[] = [];
  let set: string;
  if (runs.length === 1) {
    set = '`id` + ?';
    params.push(runs[0]?.offset);
  } else {
    set = `\`id\` + CASE${' WHEN `id` BETWEEN ? AND ? THEN ?'.repeat(runs.length)} END`;
    for (const r of runs) params.push(r.from, r.to, r.offset);
  }
  const where = runs.map(() => '`id` BETWEEN ? AND ?').join(' OR ');
  for (const r of runs) params.push(r.from, r.to);
  return { set, where, params };
}
