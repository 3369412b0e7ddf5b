import type { ResultSetHeader, RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';

/**
 * Deletes finished deliveries (succeeded or failed) created before `olderThan`: the delivery log
 * keeps what the events feed keeps (EVENT_RETENTION_DAYS), and an event past it cannot be sent again.
 * Works like `pruneEvents`: the oldest rows by id (ids are time-ordered UUIDv7s, so the primary key
 * is the time order), at most `batches` × `batchSize` a call. A delivery still pending is skipped,
 * not deleted (its job ends it: `event past retention` once its event is gone), and does not stop
 * the pass: the scan moves on past it.
 */
export async function pruneDeliveries(
  db: Db,
  olderThan: Date,
  batchSize = 1000,
  batches = 5,
): Promise<number> {
  const pool = db.$client;
  let pruned = 0;
  let after = '';
  for (let i = 0; i < batches; i++) {
    const [rows] = await pool.query<RowDataPacket[]>(
      'SELECT `id`, `status`, `created_at` AS `createdAt` FROM `webhook_deliveries` WHERE `id` > ? ORDER BY `id` LIMIT ?',
      [after, batchSize],
    );
    const old: string[] = [];
    let reachedNew = false;
    for (const r of rows) {
      if (!(r.createdAt < olderThan)) {
        reachedNew = true;
        break;
      }
      after = String(r.id);
      if (r.status !== 'pending') old.push(String(r.id));
    }
    if (old.length > 0) {
      const [res] = await pool.query<ResultSetHeader>(
        "DELETE FROM `webhook_deliveries` WHERE `id` IN (?) AND `status` <> 'pending' AND `created_at` < ?",
        [old, olderThan],
      );
      pruned += res.affectedRows;
    }
    if (reachedNew || rows.length < batchSize) break;
  }
  return pruned;
}
