/**
 * The statements a batch of one step shares (group commit). A batch takes its locks in the same
 * order as a single-order step — order rows first, sorted by id, then product rows sorted by id —
 * so batches, single steps and cancels can wait for each other but never deadlock. Decisions are
 * made in memory on the locked rows; the writes are one statement per table for the whole batch.
 */
import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { AnyMySqlColumn } from 'drizzle-orm/mysql-core';
import type { Tx } from '../../db/client';
import { orderEvents, orderItems, orders, products, users } from '../../db/schema';
import type { Line } from '../inventory/stock';
import { allowedTransitions, type OrderEvent, type OrderStatus } from './status';

/** What a batch answers for each order: its outcome, or the error its job fails with. */
export type Decided<T> = { ok: true; value: T } | { ok: false; error: unknown };

export const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Locks the orders (sorted by id) and returns them by id; an id with no row is absent. */
export async function lockOrders(tx: Tx, ids: string[]) {
  const rows = await tx
    .select({
      id: orders.id,
      userId: orders.userId,
      status: orders.status,
      paymentToken: orders.paymentToken,
      totalCents: orders.totalCents,
      currency: orders.currency,
      failureReason: orders.failureReason,
    })
    .from(orders)
    .where(inArray(orders.id, [...ids].sort(byId)))
    .orderBy(orders.id)
    .for('update');
  return new Map(rows.map((r) => [r.id, r]));
}

export type LockedOrder = NonNullable<ReturnType<Awaited<ReturnType<typeof lockOrders>>['get']>>;

/** A locked order with its lines (and its customer's contact if asked), as `lockOrdersWithLines` reads them. */
export type LockedWithLines = LockedOrder & {
  lines: Line[];
  /** The customer's email and encrypted phone (null unless asked for, or when the user row is gone). */
  email: string | null;
  phoneEnc: string | null;
};

/**
 * `lockOrders` and `linesOf` (and the customers' contacts) in one statement: a small batch pays its
 * round trips per statement, not per row. The orders are locked as `lockOrders` locks them (sorted by
 * id). The subqueries are plain consistent reads — a locking read does not lock a subquery's rows, so
 * no order_items or users row or gap is locked — as the separate reads they replace were: an order's
 * lines are written with the order and never change, and the contact read matches `recordOutcomes`'.
 */
export async function lockOrdersWithLines(
  tx: Tx,
  ids: string[],
  withContact = false,
): Promise<Map<string, LockedWithLines>> {
  const contact = (column: AnyMySqlColumn) =>
    withContact
      ? sql<string | null>`(SELECT ${column} FROM ${users} WHERE ${users.id} = ${orders.userId})`
      : sql<null>`NULL`;
  const rows = await tx
    .select({
      id: orders.id,
      userId: orders.userId,
      status: orders.status,
      paymentToken: orders.paymentToken,
      totalCents: orders.totalCents,
      currency: orders.currency,
      failureReason: orders.failureReason,
      lines: sql<unknown>`(SELECT JSON_ARRAYAGG(JSON_ARRAY(${orderItems.productId}, ${orderItems.quantity})) FROM ${orderItems} WHERE ${orderItems.orderId} = ${orders.id})`,
      email: contact(users.email),
      phoneEnc: contact(users.phoneEnc),
    })
    .from(orders)
    .where(inArray(orders.id, [...ids].sort(byId)))
    .orderBy(orders.id)
    .for('update');
  return new Map(rows.map((r) => [r.id, { ...r, lines: parseLines(r.lines) }]));
}

/** JSON_ARRAYAGG's `[[productId, quantity], …]` (a string from the driver, or null for no lines). */
function parseLines(raw: unknown): Line[] {
  if (raw === null || raw === undefined) return [];
  // A malformed value (it never should be) throws: the batch then falls back to one order at a time.
  const pairs = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [string, number][];
  return pairs.map(([productId, quantity]) => ({ productId, quantity: Number(quantity) }));
}

/** The lines of several orders in one read. */
export async function linesOf(tx: Tx, orderIds: string[]): Promise<Map<string, Line[]>> {
  const out = new Map<string, Line[]>(orderIds.map((id) => [id, []]));
  if (orderIds.length === 0) return out;
  const rows = await tx
    .select({ orderId: orderItems.orderId, productId: orderItems.productId, quantity: orderItems.quantity })
    .from(orderItems)
    .where(inArray(orderItems.orderId, orderIds));
  for (const r of rows) out.get(r.orderId)?.push({ productId: r.productId, quantity: r.quantity });
  return out;
}

/** Locks the products (sorted by id) and returns their stock. */
export async function lockProducts(tx: Tx, productIds: string[]) {
  if (productIds.length === 0) return new Map<string, { available: number; reserved: number }>();
  const rows = await tx
    .select({ id: products.id, available: products.available, reserved: products.reserved })
    .from(products)
    .where(inArray(products.id, [...productIds].sort(byId)))
    .orderBy(products.id)
    .for('update');
  return new Map(rows.map((r) => [r.id, { available: r.available, reserved: r.reserved }]));
}

/** Adds up the units per product of several orders' lines. */
export function unitsPerProduct(lineSets: Iterable<Line[]>): Map<string, number> {
  const units = new Map<string, number>();
  for (const lines of lineSets)
    for (const l of lines) units.set(l.productId, (units.get(l.productId) ?? 0) + l.quantity);
  return units;
}

/** A column as an UPDATE's SET names it: unqualified. */
export const col = (column: AnyMySqlColumn): SQL => sql`${sql.identifier(column.name)}`;

const caseById = (column: SQL, byKey: Map<string, number | string | null>): SQL =>
  sql`CASE ${column} ${sql.join(
    [...byKey].map(([id, v]) => sql`WHEN ${id} THEN ${v}`),
    sql` `,
  )} END`;

/**
 * Moves stock for several products in one statement: `held` units from available to reserved
 * (reserve), `released` from reserved back to available (a decline), `consumed` out of reserved
 * (completion). The columns are unsigned: held stock that is not there makes the statement fail
 * rather than go negative, and the batch falls back to the single-order path, which names it.
 * Returns the number of product rows matched.
 */
export async function moveStockMany(
  tx: Tx,
  move: { held?: Map<string, number>; released?: Map<string, number>; consumed?: Map<string, number> },
  at: Date,
): Promise<number> {
  const ids = [
    ...new Set([
      ...(move.held?.keys() ?? []),
      ...(move.released?.keys() ?? []),
      ...(move.consumed?.keys() ?? []),
    ]),
  ].sort(byId);
  if (ids.length === 0) return 0;
  const delta = (pick: (id: string) => number) => new Map(ids.map((id) => [id, pick(id)]));
  const held = (id: string) => move.held?.get(id) ?? 0;
  const released = (id: string) => move.released?.get(id) ?? 0;
  const consumed = (id: string) => move.consumed?.get(id) ?? 0;
  const id = sql`${products.id}`;
  // available + held - ... is written as "available - x" with x ≥ 0 or "+ x" so that an unsigned
  // column never sees a negative intermediate value it would refuse for the wrong reason.
  const [res] = await tx.execute(
    sql`UPDATE ${products} FORCE INDEX (PRIMARY) SET
      ${col(products.available)} = ${products.available} + ${caseById(id, delta(released))} - ${caseById(id, delta(held))},
      ${col(products.reserved)} = ${products.reserved} + ${caseById(id, delta(held))} - ${caseById(
        id,
        delta((p) => released(p) + consumed(p)),
      )},
      ${col(products.updatedAt)} = ${at}
      WHERE ${inArray(products.id, ids)}`,
  );
  // mysql2 asks for found rows: the rows matched, whether or not a value changed.
  return res.affectedRows;
}

export interface Change {
  orderId: string;
  to: OrderStatus;
  reason?: string;
  /** Sets reserved_until (reserve) or clears it (null); untouched when absent. */
  reservedUntil?: Date | null;
}

/** A batch's compare-and-set matched fewer orders than it named: one of them is not in `from` any more. */
export class CompareAndSetMissed extends Error {
  override name = 'CompareAndSetMissed';
}

/**
 * The compare-and-set of several orders that are all in `from`, with one timeline row each: one
 * UPDATE … CASE and one multi-row INSERT. Every order must still be in `from`: either the caller
 * locked and checked the rows, or it lets the UPDATE's matched-row count tell; if one is not,
 * `CompareAndSetMissed` is thrown before the timeline is written (the caller's transaction rolls back).
 */
export async function transitionMany(
  tx: Tx,
  from: OrderStatus,
  changes: Change[],
  at: Date,
): Promise<OrderEvent[]> {
  if (changes.length === 0) return [];
  for (const c of changes) {
    if (!allowedTransitions[from].includes(c.to))
      throw new Error(`illegal order transition ${from} -> ${c.to}`);
  }
  const id = sql`${orders.id}`;
  const ids = changes.map((c) => c.orderId);
  const withUntil = changes.filter((c) => c.reservedUntil !== undefined);
  const until = withUntil.length
    ? sql`, ${col(orders.reservedUntil)} = CASE ${id} ${sql.join(
        withUntil.map((c) => sql`WHEN ${c.orderId} THEN ${c.reservedUntil ?? null}`),
        sql` `,
      )} ELSE ${orders.reservedUntil} END`
    : sql``;
  const [res] = await tx.execute(
    sql`UPDATE ${orders} FORCE INDEX (PRIMARY) SET
      ${col(orders.status)} = ${caseById(id, new Map(changes.map((c) => [c.orderId, c.to])))},
      ${col(orders.failureReason)} = ${caseById(id, new Map(changes.map((c) => [c.orderId, c.reason ?? null])))}
      ${until},
      ${col(orders.version)} = ${orders.version} + 1,
      ${col(orders.updatedAt)} = ${at}
      WHERE ${and(inArray(orders.id, ids), eq(orders.status, from))}`,
  );
  if (res.affectedRows !== changes.length) {
    throw new CompareAndSetMissed(
      `compare-and-set moved ${res.affectedRows} of ${changes.length} ${from} orders`,
    );
  }
  await tx.insert(orderEvents).values(
    changes.map((c) => ({
      orderId: c.orderId,
      fromStatus: from,
      toStatus: c.to,
      reason: c.reason ?? null,
      at,
    })),
  );
  return changes.map((c) => ({
    orderId: c.orderId,
    from,
    to: c.to,
    at,
    ...(c.reason ? { reason: c.reason } : {}),
  }));
}
