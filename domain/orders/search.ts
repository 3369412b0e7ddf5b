import { and, count, desc, eq, gte, lt, or, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { orders, users } from '../../db/schema';
import { DomainError } from '../errors';
import { getOrderView, getOrderViews, type OrderView } from './read';
import { type OrderStatus, orderStatuses } from './status';

/** What an operator can search orders by; every field is optional and they combine. */
export interface OrderSearch {
  status?: OrderStatus;
  /** The customer's email (stored normalized, unique: one index lookup finds the account). */
  email?: string;
  orderId?: string;
  from?: Date;
  /** Exclusive upper bound on `created_at`. */
  to?: Date;
}

export interface OrderSearchPage {
  data: OrderView[];
  nextCursor: string | null;
}

interface Key {
  at: Date;
  id: string;
}

/**
 * Orders matching `search`, newest first, paged by a (createdAt, id) cursor; every path is an index
 * range, never OFFSET nor a scan of the table:
 * - an order id: the primary key;
 * - an email: the account by `users_email_uq`, then its orders on `orders_user_created_idx`;
 * - a status: `orders_status_created_idx`;
 * - no status: one short range per status on `orders_status_created_idx`, merged (there is no index
 *   on `created_at` alone, and a handful of statuses cost a handful of `LIMIT n+1` reads).
 */
export async function searchOrders(
  db: Db,
  search: OrderSearch,
  limit: number,
  cursor?: string,
): Promise<OrderSearchPage> {
  if (search.orderId) {
    if (cursor) return { data: [], nextCursor: null };
    const view = await getOrderView(db, search.orderId).catch((err: unknown) => {
      if (err instanceof DomainError && err.code === 'not_found') return undefined;
      throw err;
    });
    const matches = view && (!search.status || view.status === search.status);
    return { data: view && matches ? [view] : [], nextCursor: null };
  }
  const after = cursor ? decodeCursor(cursor) : undefined;
  const range = [
    search.from ? gte(orders.createdAt, search.from) : undefined,
    search.to ? lt(orders.createdAt, search.to) : undefined,
    after
      ? or(lt(orders.createdAt, after.at), and(eq(orders.createdAt, after.at), lt(orders.id, after.id)))
      : undefined,
  ];
  let keys: Key[];
  if (search.email) {
    const [user] = await db
      .select({ id: users.id })
      .from(users)
      .where(eq(users.email, search.email.trim().toLowerCase()))
      .limit(1);
    if (!user) return { data: [], nextCursor: null };
    const filter = and(
      eq(orders.userId, user.id),
      search.status ? eq(orders.status, search.status) : undefined,
      ...range,
    );
    keys = await newest(db, filter, limit + 1);
  } else {
    const statuses = search.status ? [search.status] : orderStatuses;
    const perStatus = await Promise.all(
      statuses.map((status) => newest(db, and(eq(orders.status, status), ...range), limit + 1)),
    );
    keys = perStatus
      .flat()
      .sort((a, b) => b.at.getTime() - a.at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, limit + 1);
  }
  const page = keys.slice(0, limit);
  const views = await getOrderViews(
    db,
    page.map((k) => k.id),
  );
  const last = page.at(-1);
  return { data: views, nextCursor: keys.length > limit && last ? encodeCursor(last) : null };
}

function newest(db: Db, filter: SQL | undefined, n: number): Promise<Key[]> {
  return db
    .select({ at: orders.createdAt, id: orders.id })
    .from(orders)
    .where(filter)
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(n);
}

/**
 * How many orders are in each status: one count per status, each a range of
 * `orders_status_created_idx` (an index-only read); callers cache the figure for a few seconds.
 */
export async function countOrdersByStatus(db: Db): Promise<Record<OrderStatus, number>> {
  const counts = await Promise.all(
    orderStatuses.map(async (status) => {
      const [row] = await db.select({ n: count() }).from(orders).where(eq(orders.status, status));
      return [status, Number(row?.n ?? 0)] as const;
    }),
  );
  return Object.fromEntries(counts) as Record<OrderStatus, number>;
}

/** The orders in `review`, oldest first (the longest wait is decided first), on `orders_status_updated_idx`. */
export async function reviewQueuePage(db: Db, limit: number): Promise<OrderView[]> {
  const rows = await db
    .select({ id: orders.id })
    .from(orders)
    .where(eq(orders.status, 'review'))
    .orderBy(orders.updatedAt, orders.id)
    .limit(limit);
  return getOrderViews(
    db,
    rows.map((r) => r.id),
  );
}

/** The `created_at` bounds of the days `from` through `until` (YYYY-MM-DD, UTC, both included). */
export function dayRange(from?: string, until?: string): { from?: Date; to?: Date } {
  const start = from ? new Date(`${from}T00:00:00.000Z`) : undefined;
  const end = until ? new Date(`${until}T00:00:00.000Z`) : undefined;
  if (end) end.setUTCDate(end.getUTCDate() + 1);
  return {
    ...(start && !Number.isNaN(start.getTime()) ? { from: start } : {}),
    ...(end && !Number.isNaN(end.getTime()) ? { to: end } : {}),
  };
}

function encodeCursor(key: Key): string {
  return Buffer.from(`${key.at.getTime()}|${key.id}`).toString('base64url');
}

function decodeCursor(cursor: string): Key {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const at = new Date(Number(ms));
  if (!id || Number.isNaN(at.getTime())) {
    throw new DomainError('validation', 'Invalid cursor', [
      { field: 'cursor', message: 'not a cursor from this console' },
    ]);
  }
  return { at, id };
}
