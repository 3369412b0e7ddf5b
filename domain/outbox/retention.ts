import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';

/**
 * Deletes events older than `olderThan`, oldest first, at most `batches` × `batchSize` rows a call so
 * that a backlog is worked off over several maintenance passes instead of in one long statement.
 * Reads the oldest rows by id (the primary key: no index on the time is needed, ids and times grow
 * together) and deletes the old ones among them. Never deleted: a row not yet numbered, and the
 * highest-numbered row, which the sequencer counts on (its next number follows the highest kept).
 */
export async function pruneEvents(db: Db, olderThan: Date, batchSize = 1000, batches = 5): Promise<number> {
  const pool = db.$client;
  let pruned = 0;
  for (let i = 0; i < batches; i++) {
    const [top] = await pool.query<RowDataPacket[]>('SELECT COALESCE(MAX(`seq`), 0) AS `top` FROM `events`');
    const keep = Number(top[0]?.top ?? 0);
    const [rows] = await pool.query<RowDataPacket[]>(
      'SELECT `id`, `seq`, `created_at` AS `createdAt` FROM `events` ORDER BY `id` LIMIT ?',
      [batchSize],
    );
    const old: number[] = [];
    for (const r of rows) {
      if (!(r.createdAt < olderThan)) break;
      if (r.seq !== null && Number(r.seq) < keep) old.push(Number(r.id));
    }
    if (old.length === 0) break;
    // A primary-key range (scanning only these rows), with the same conditions again.
    await pool.query('DELETE FROM `events` WHERE `id` BETWEEN ? AND ? AND `created_at` < ? AND `seq` < ?', [
      old[0],
      old.at(-1),
      olderThan,
      keep,
    ]);
    pruned += old.length;
    if (old.length < batchSize) break;
  }
  return pruned;
}
