/**
 * The statements a batch of one step shares (group commit). A batch takes its locks in the same
 * order as a single-order step — order rows first, sorted by id, then product rows sorted by id —
 * so batches, single steps and cancels can wait for each other but never deadlock. Decisions are
 * made in memory on the locked rows; the writes are one statement per table for the whole batch.
 */
import type { Tx } from '../../db/client';
import { caseWhen, marks, select, valueRows, write } from '../../db/raw';
import { itemTraceParent } from '../../lib/tracing';
import type { Line } from '../inventory/stock';
import { orderChanges, recordEvents } from '../outbox/write';
import { allowedTransitions, type OrderEvent, type OrderStatus } from './status';

/** What a batch answers for each order: its outcome, or the error its job fails with. */
export type Decided<T> = { ok: true; value: T } | { ok: false; error: unknown };

export const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The order columns a batch decides on, under the names `LockedOrder` has. */
const ORDER_COLUMNS =
  '`orders`.`id` AS `id`, `orders`.`user_id` AS `userId`, `orders`.`status` AS `status`, ' +
  '`orders`.`payment_token` AS `paymentToken`, `orders`.`total_cents` AS `totalCents`, ' +
  '`orders`.`currency` AS `currency`, `orders`.`failure_reason` AS `failureReason`';

/** Locks the orders (sorted by id) and returns them by id; an id with no row is absent. */
export async function lockOrders(tx: Tx, ids: string[]) {
  const sorted = [...ids].sort(byId);
  const rows = await select<LockedOrder>(
    tx,
    `SELECT ${ORDER_COLUMNS} FROM \`orders\` WHERE \`orders\`.\`id\` IN (${marks(sorted.length)}) ORDER BY \`orders\`.\`id\` FOR UPDATE`,
    sorted,
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** An order as a batch locks and reads it. */
export interface LockedOrder {
  id: string;
  userId: string;
  status: OrderStatus;
  paymentToken: string | null;
  totalCents: number;
  currency: string;
  failureReason: string | null;
}

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
  const sorted = [...ids].sort(byId);
  const rows = await select<LockedOrder & { lines: unknown; email: string | null; phoneEnc: string | null }>(
    tx,
    withContact ? lockWithContact(sorted.length) : lockWithoutContact(sorted.length),
    sorted,
  );
  return new Map(rows.map((r) => [r.id, { ...r, lines: parseLines(r.lines) }]));
}

const LINES_OF_ORDER =
  '(SELECT JSON_ARRAYAGG(JSON_ARRAY(`order_items`.`product_id`, `order_items`.`quantity`)) ' +
  'FROM `order_items` WHERE `order_items`.`order_id` = `orders`.`id`) AS `lines`';
const contactOf = (column: string, alias: string) =>
  `(SELECT \`users\`.\`${column}\` FROM \`users\` WHERE \`users\`.\`id\` = \`orders\`.\`user_id\`) AS \`${alias}\``;
const lockWithLines = (contact: string) => (n: number) =>
  `SELECT ${ORDER_COLUMNS}, ${LINES_OF_ORDER}, ${contact} FROM \`orders\` ` +
  `WHERE \`orders\`.\`id\` IN (${marks(n)}) ORDER BY \`orders\`.\`id\` FOR UPDATE`;
const lockWithContact = lockWithLines(
  `${contactOf('email', 'email')}, ${contactOf('phone_enc', 'phoneEnc')}`,
);
const lockWithoutContact = lockWithLines('NULL AS `email`, NULL AS `phoneEnc`');

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
  const rows = await select<{ orderId: string; productId: string; quantity: number }>(
    tx,
    'SELECT `order_id` AS `orderId`, `product_id` AS `productId`, `quantity` FROM `order_items` ' +
      `WHERE \`order_items\`.\`order_id\` IN (${marks(orderIds.length)})`,
    orderIds,
  );
  for (const r of rows) out.get(r.orderId)?.push({ productId: r.productId, quantity: r.quantity });
  return out;
}

/** Locks the products (sorted by id) and returns their stock. */
export async function lockProducts(tx: Tx, productIds: string[]) {
  if (productIds.length === 0) return new Map<string, { available: number; reserved: number }>();
  const sorted = [...productIds].sort(byId);
  const rows = await select<{ id: string; available: number; reserved: number }>(
    tx,
    'SELECT `id`, `available`, `reserved` FROM `products` ' +
      `WHERE \`products\`.\`id\` IN (${marks(sorted.length)}) ORDER BY \`products\`.\`id\` FOR UPDATE`,
    sorted,
  );
  return new Map(rows.map((r) => [r.id, { available: r.available, reserved: r.reserved }]));
}

/** Adds up the units per product of several orders' lines. */
export function unitsPerProduct(lineSets: Iterable<Line[]>): Map<string, number> {
  const units = new Map<string, number>();
  for (const lines of lineSets)
    for (const l of lines) units.set(l.productId, (units.get(l.productId) ?? 0) + l.quantity);
  return units;
}

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
  const held = (id: string) => move.held?.get(id) ?? 0;
  const released = (id: string) => move.released?.get(id) ?? 0;
  const consumed = (id: string) => move.consumed?.get(id) ?? 0;
  const params: unknown[] = [];
  const byProduct = (pick: (id: string) => number) =>
    caseWhen(
      '`products`.`id`',
      ids.map((id) => [id, pick(id)] as const),
      params,
    );
  // available + held - ... is written as "available - x" with x ≥ 0 or "+ x" so that an unsigned
  // column never sees a negative intermediate value it would refuse for the wrong reason.
  // (The CASEs are written in the order their placeholders are pushed.)
  const available = `\`products\`.\`available\` + ${byProduct(released)} - ${byProduct(held)}`;
  const reserved = `\`products\`.\`reserved\` + ${byProduct(held)} - ${byProduct((p) => released(p) + consumed(p))}`;
  params.push(at, ...ids);
  const res = await write(
    tx,
    `UPDATE \`products\` FORCE INDEX (PRIMARY) SET \`available\` = ${available}, \`reserved\` = ${reserved}, ` +
      `\`updated_at\` = ? WHERE \`products\`.\`id\` IN (${marks(ids.length)})`,
    params,
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
  const params: unknown[] = [];
  const status = caseWhen(
    '`orders`.`id`',
    changes.map((c) => [c.orderId, c.to] as const),
    params,
  );
  const reason = caseWhen(
    '`orders`.`id`',
    changes.map((c) => [c.orderId, c.reason ?? null] as const),
    params,
  );
  const withUntil = changes.filter((c) => c.reservedUntil !== undefined);
  const until = withUntil.length
    ? `, \`reserved_until\` = ${caseWhen(
        '`orders`.`id`',
        withUntil.map((c) => [c.orderId, c.reservedUntil ?? null] as const),
        params,
        '`orders`.`reserved_until`',
      )}`
    : '';
  params.push(at, ...changes.map((c) => c.orderId), from);
  const res = await write(
    tx,
    `UPDATE \`orders\` FORCE INDEX (PRIMARY) SET \`status\` = ${status}, \`failure_reason\` = ${reason}${until}, ` +
      `\`version\` = \`orders\`.\`version\` + 1, \`updated_at\` = ? ` +
      `WHERE (\`orders\`.\`id\` IN (${marks(changes.length)}) AND \`orders\`.\`status\` = ?)`,
    params,
  );
  if (res.affectedRows !== changes.length) {
    throw new CompareAndSetMissed(
      `compare-and-set moved ${res.affectedRows} of ${changes.length} ${from} orders`,
    );
  }
  const events: unknown[] = [];
  for (const c of changes) events.push(c.orderId, from, c.to, c.reason ?? null, at);
  await write(
    tx,
    `INSERT INTO \`order_events\` (\`order_id\`, \`from_status\`, \`to_status\`, \`reason\`, \`at\`) VALUES ${valueRows(changes.length, 5)}`,
    events,
  );
  // The outbox: the batch's events in one more multi-row INSERT (the order path's only addition).
  // Each event names its order's step span (the batch's item), not the batch's span.
  await recordEvents(
    tx,
    orderChanges(
      changes.map((c) => ({ orderId: c.orderId, to: c.to, at, traceParent: itemTraceParent(c.orderId) })),
    ),
  );
  return changes.map((c) => ({
    orderId: c.orderId,
    from,
    to: c.to,
    at,
    ...(c.reason ? { reason: c.reason } : {}),
  }));
}
