import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';
import { marks } from '../../db/raw';
import { DomainError } from '../errors';
import { sequenceEvents } from '../outbox/sequence';
import { EVENT_COLUMNS, type EventRow, type EventView } from '../outbox/types';
import { renderEvents } from './event-data';

export interface EventPage {
  data: EventView[];
  /** Where the next read starts; always given (an empty page: nothing new yet, ask again with it). */
  nextCursor: string;
}

/**
 * The events after a cursor, in commit order (by `seq`, see ../outbox/sequence.ts). The page is
 * bounded by the highest number given when it is read: everything up to it is committed and visible,
 * so when the page is not full the cursor moves to that number (past events of other types) and the
 * next read starts after it, where only later commits can be.
 */
export async function listEvents(
  db: Db,
  q: { after?: string; types?: string[]; limit: number },
): Promise<EventPage> {
  const after = q.after ? decodeCursor(q.after) : 0;
  await sequenceEvents(db);
  const pool = db.$client;
  const [top] = await pool.query<RowDataPacket[]>('SELECT COALESCE(MAX(`seq`), 0) AS `top` FROM `events`');
  const upTo = Number(top[0]?.top ?? 0);
  const params: unknown[] = [after, upTo];
  let where = '`seq` > ? AND `seq` <= ?';
  if (q.types?.length) {
    where += ` AND \`type\` IN (${marks(q.types.length)})`;
    params.push(...q.types);
  }
  params.push(q.limit);
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT ${EVENT_COLUMNS} FROM \`events\` WHERE ${where} ORDER BY \`seq\` LIMIT ?`,
    params,
  );
  const page = rows as unknown as EventRow[];
  const last = page.at(-1);
  const next = page.length === q.limit && last ? last.seq : Math.max(upTo, after);
  return { data: await renderEvents(db, page), nextCursor: encodeCursor(next) };
}

export const encodeCursor = (seq: number): string => Buffer.from(`seq:${seq}`).toString('base64url');

export function decodeCursor(cursor: string): number {
  const m = /^seq:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) {
    throw new DomainError('validation', 'Invalid cursor', [
      { field: 'after', message: 'not a cursor from this API' },
    ]);
  }
  return Number(m[1]);
}
