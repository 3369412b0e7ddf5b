import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';
import { caseWhen, marks } from '../../db/raw';

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
        let next = Number(top[0]?.top ?? 0);
        const ids = rows.map((r) => Number(r.id));
        const params: unknown[] = [];
        const seq = caseWhen(
          '`id`',
          ids.map((id) => [id, ++next] as const),
          params,
        );
        params.push(...ids);
        // Only the named rows are locked: by primary key (a small table would otherwise be scanned,
        // locking an open transaction's row too and waiting for it), at READ COMMITTED (this statement
        // only), which never waits for a row it does not change.
        await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        await conn.query(
          `UPDATE \`events\` FORCE INDEX (PRIMARY) SET \`seq\` = ${seq} WHERE \`id\` IN (${marks(ids.length)})`,
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
