import { and, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { type orderEvents, orders, type RiskDecision, users } from '../../db/schema';
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

/** Several orders in one read per table, in the order of `ids` (an id with no order is left out). */
export async function getOrderViews(db: Db, ids: string[]): Promise<OrderView[]> {
  if (ids.length === 0) return [];
  const byId = new Map((await orderViews(db, ids)).map((v) => [v.id, v]));
  return ids.flatMap((id) => byId.get(id) ?? []);
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

/** What a view needs of an order's row (drizzle's full row or the narrower one `orderViews` reads). */
type ViewRow = Pick<
  OrderRow,
  | 'id'
  | 'userId'
  | 'status'
  | 'totalCents'
  | 'refundedCents'
  | 'currency'
  | 'failureReason'
  | 'riskScore'
  | 'riskDecision'
  | 'riskReasons'
  | 'riskModel'
  | 'disputed'
  | 'createdAt'
  | 'updatedAt'
>;
type ItemRow = { orderId: string; productId: string; quantity: number; unitPriceCents: number };
type TimelineRow = Pick<
  typeof orderEvents.$inferSelect,
  'orderId' | 'fromStatus' | 'toStatus' | 'reason' | 'at' | 'actorType' | 'actorId'
>;

/** Orders as GET shows them (items and timeline read for all of them at once). */
export async function hydrate(db: Db, rows: OrderRow[]): Promise<OrderView[]> {
  if (rows.length === 0) return [];
  const [items, events] = await itemsAndTimelines(
    db,
    rows.map((r) => r.id),
  );
  return assemble(rows, items, events);
}

const VIEW_ORDERS =
  'SELECT `id`, `user_id` AS `userId`, `status`, `total_cents` AS `totalCents`, ' +
  '`refunded_cents` AS `refundedCents`, `currency`, `failure_reason` AS `failureReason`, ' +
  '`risk_score` AS `riskScore`, `risk_decision` AS `riskDecision`, `risk_reasons` AS `riskReasons`, ' +
  '`risk_model` AS `riskModel`, `disputed`, `created_at` AS `createdAt`, `updated_at` AS `updatedAt` ' +
  'FROM `orders` WHERE `id` IN (?)';
const VIEW_ITEMS =
  'SELECT `order_id` AS `orderId`, `product_id` AS `productId`, `quantity`, `unit_price_cents` AS `unitPriceCents` ' +
  'FROM `order_items` WHERE `order_id` IN (?) ORDER BY `product_id`';
const VIEW_TIMELINE =
  'SELECT `order_id` AS `orderId`, `from_status` AS `fromStatus`, `to_status` AS `toStatus`, `reason`, `at`, ' +
  '`actor_type` AS `actorType`, `actor_id` AS `actorId` FROM `order_events` WHERE `order_id` IN (?) ORDER BY `id`';

/**
 * The orders' items and timelines, each in one plain statement through the pool: drizzle's query
 * building and row mapping cost more than the reads themselves (the webhook sender renders a batch's
 * orders with them, GET with `hydrate`).
 */
async function itemsAndTimelines(db: Db, ids: readonly string[]): Promise<[ItemRow[], TimelineRow[]]> {
  const [[items], [events]] = await Promise.all([
    db.$client.query(VIEW_ITEMS, [ids]),
    db.$client.query(VIEW_TIMELINE, [ids]),
  ]);
  return [items as ItemRow[], events as TimelineRow[]];
}

/** Orders as GET shows them, by id (in no set order; an id with no order is left out). */
export async function orderViews(db: Db, ids: readonly string[]): Promise<OrderView[]> {
  if (ids.length === 0) return [];
  const [[rows], [items, events]] = await Promise.all([
    db.$client.query(VIEW_ORDERS, [ids]),
    itemsAndTimelines(db, ids),
  ]);
  return assemble(
    (rows as ViewRow[]).map((r) => ({ ...r, disputed: Boolean(r.disputed) })),
    items,
    events,
  );
}

/** Views from an order's rows, grouped by order in one pass (items and timeline in the order read). */
function assemble(rows: ViewRow[], items: ItemRow[], events: TimelineRow[]): OrderView[] {
  const itemsOf = groupBy(items, (i) => i.orderId);
  const eventsOf = groupBy(events, (e) => e.orderId);
  return rows.map((r) => ({
    id: r.id,
    userId: r.userId,
    status: r.status,
    items: (itemsOf.get(r.id) ?? []).map((i) => ({
      productId: i.productId,
      quantity: i.quantity,
      unitPriceCents: i.unitPriceCents,
    })),
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
    events: (eventsOf.get(r.id) ?? []).map((e) => ({
      from: e.fromStatus,
      to: e.toStatus,
      at: e.at.toISOString(),
      ...(e.reason ? { reason: e.reason } : {}),
      actor: actorFromColumns(e.actorType, e.actorId),
    })),
  }));
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const group = groups.get(k);
    if (group) group.push(x);
    else groups.set(k, [x]);
  }
  return groups;
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
