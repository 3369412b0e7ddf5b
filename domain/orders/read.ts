import { and, asc, desc, eq, inArray, lt, or, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { orderEvents, orderItems, orders, type RiskDecision, users } from '../../db/schema';
import { type Actor, actorFromColumns } from '../actor';
import { DomainError, notFound } from '../errors';
import type { OrderStatus } from './status';

export interface OrderView {
  id: string;
  userId: string;
  status: OrderStatus;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  refundedCents: number;
  currency: string;
  failureReason?: string;
  risk?: RiskView;
  /** The customer disputed the payment with their bank (shown only when true). */
  disputed?: true;
  createdAt: string;
  updatedAt: string;
  events: { from: OrderStatus | null; to: OrderStatus; at: string; reason?: string; actor: Actor }[];
}

/** Fraud screening's verdict on the order, once it has been screened. */
export interface RiskView {
  score: number;
  decision: RiskDecision;
  reasons: string[];
  model: string;
}

type OrderRow = typeof orders.$inferSelect;

export async function getOrderRow(db: Db, orderId: string): Promise<OrderRow> {
  const [row] = await db.select().from(orders).where(eq(orders.id, orderId)).limit(1);
  if (!row) throw notFound('Order');
  return row;
}

export async function getOrderView(db: Db, orderId: string): Promise<OrderView> {
  const row = await getOrderRow(db, orderId);
  const [view] = await hydrate(db, [row]);
  if (!view) throw notFound('Order');
  return view;
}

export interface OrderPage {
  data: OrderView[];
  nextCursor: string | null;
}

/** Newest first, keyset-paginated on (createdAt, id) so pages stay stable while orders arrive. */
export async function listOrdersOfUser(
  db: Db,
  userId: string,
  limit: number,
  cursor?: string,
): Promise<OrderPage> {
  const page = await listOrders(db, eq(orders.userId, userId), limit, cursor);
  // An empty first page may mean no such user (an admin asking): say so rather than list nothing.
  if (!cursor && page.data.length === 0) {
    const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, userId)).limit(1);
    if (!user) throw notFound('User');
  }
  return page;
}

/** Every user's orders in one status (the admins' review queue), newest first, on its own index. */
export function listOrdersByStatus(
  db: Db,
  status: OrderStatus,
  limit: number,
  cursor?: string,
): Promise<OrderPage> {
  return listOrders(db, eq(orders.status, status), limit, cursor);
}

async function listOrders(db: Db, filter: SQL, limit: number, cursor?: string): Promise<OrderPage> {
  const after = cursor ? decodeCursor(cursor) : undefined;
  const rows = await db
    .select()
    .from(orders)
    .where(
      and(
        filter,
        after
          ? or(lt(orders.createdAt, after.at), and(eq(orders.createdAt, after.at), lt(orders.id, after.id)))
          : undefined,
      ),
    )
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: await hydrate(db, page),
    nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

/** Orders as GET shows them (items and timeline read for all of them at once). */
export async function hydrate(db: Db, rows: OrderRow[]): Promise<OrderView[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [items, events] = await Promise.all([
    db.select().from(orderItems).where(inArray(orderItems.orderId, ids)).orderBy(asc(orderItems.productId)),
    db.select().from(orderEvents).where(inArray(orderEvents.orderId, ids)).orderBy(asc(orderEvents.id)),
  ]);
  return rows.map((r) => ({
    id: r.id,
    userId: r.userId,
    status: r.status,
    items: items
      .filter((i) => i.orderId === r.id)
      .map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: i.unitPriceCents })),
    totalCents: r.totalCents,
    refundedCents: r.refundedCents,
    currency: r.currency,
    ...(r.failureReason ? { failureReason: r.failureReason } : {}),
    ...(r.riskDecision
      ? {
          risk: {
            score: r.riskScore ?? 0,
            decision: r.riskDecision,
            reasons: r.riskReasons ? r.riskReasons.split(',') : [],
            model: r.riskModel ?? 'unknown',
          },
        }
      : {}),
    ...(r.disputed ? { disputed: true as const } : {}),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    events: events
      .filter((e) => e.orderId === r.id)
      .map((e) => ({
        from: e.fromStatus,
        to: e.toStatus,
        at: e.at.toISOString(),
        ...(e.reason ? { reason: e.reason } : {}),
        actor: actorFromColumns(e.actorType, e.actorId),
      })),
  }));
}

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.getTime()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [ms, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const at = new Date(Number(ms));
  if (!id || Number.isNaN(at.getTime())) {
    throw new DomainError('validation', 'Invalid cursor', [
      { field: 'cursor', message: 'not a cursor from this API' },
    ]);
  }
  return { at, id };
}
