import type { Tx } from '../../db/client';
import { notFound } from '../errors';
import { recordOutcomeMessages } from '../notifications/notifications';
import type { OrderContext } from './context';
import {
  byId,
  type Decided,
  lockOrdersWithLines,
  lockProducts,
  moveStockMany,
  transitionMany,
  unitsPerProduct,
} from './group-commit';
import type { ReserveOutcome } from './reserve-one';

/**
 * `reserveOrder` for many orders in one transaction (group commit). Each pending order is decided in
 * memory on the locked stock rows, in the order the jobs arrived: it holds all its units, or none and
 * is rejected for the first product (in lock order) that lacks them — exactly as one at a time.
 * An order that is not pending any more is left alone; one with no row fails its own job only.
 */
export async function reserveOrders(
  ctx: OrderContext,
  orderIds: string[],
): Promise<Map<string, Decided<ReserveOutcome>>> {
  const out = new Map<string, Decided<ReserveOutcome>>();
  const products = new Set<string>();
  const events = await ctx.db.transaction(async (tx) => {
    const locked = await lockOrdersWithLines(tx, orderIds);
    const pending = orderIds.filter((id) => locked.get(id)?.status === 'pending');
    const wanted = unitsPerProduct(pending.map((id) => locked.get(id)?.lines ?? []));
    const now = new Date();
    // Nearly always every order of the batch finds its stock: hold it all with one statement and skip
    // reading the stock. Only when that is refused (some product lacks units) are the products locked
    // and read, and each order decided on its own, in arrival order, as below.
    const allHeld = await holdAll(tx, wanted, now);
    const stock = allHeld ? null : await lockProducts(tx, [...wanted.keys()]);
    const held = new Map<string, number>();
    const until = new Date(now.getTime() + ctx.reservationTtlSeconds * 1000);
    const reserved: { orderId: string; to: 'reserved'; reservedUntil: Date | null }[] = [];
    const rejected: { orderId: string; to: 'rejected'; reason: string }[] = [];
    for (const id of orderIds) {
      const order = locked.get(id);
      if (!order) {
        out.set(id, { ok: false, error: notFound('Order') });
        continue;
      }
      if (order.status !== 'pending') {
        out.set(id, { ok: true, value: { status: order.status, changed: false, messages: [] } });
        continue;
      }
      const mine = [...order.lines].sort((a, b) => byId(a.productId, b.productId));
      const short =
        stock &&
        mine.find(
          (l) => (stock.get(l.productId)?.available ?? 0) - (held.get(l.productId) ?? 0) < l.quantity,
        );
      if (short) {
        rejected.push({ orderId: id, to: 'rejected', reason: `out_of_stock:${short.productId}` });
        continue;
      }
      for (const l of mine) {
        held.set(l.productId, (held.get(l.productId) ?? 0) + l.quantity);
        products.add(l.productId);
      }
      // An order without payment holds its stock only for a while (see expireHolds).
      reserved.push({ orderId: id, to: 'reserved', reservedUntil: order.paymentToken ? null : until });
      out.set(id, { ok: true, value: { status: 'reserved', changed: true, messages: [] } });
    }
    if (!allHeld) await moveStockMany(tx, { held }, now);
    const events = await transitionMany(tx, 'pending', [...reserved, ...rejected], now);
    // A rejection's customer message commits with it (the outbox), as reserveOrder's does. Rejections
    // are rare, so one write per rejected order costs the batch little.
    for (const r of rejected) {
      const order = locked.get(r.orderId);
      if (!order) continue;
      const messages = await recordOutcomeMessages(tx, ctx.piiKey, {
        ...order,
        status: 'rejected',
        failureReason: r.reason,
      });
      out.set(r.orderId, { ok: true, value: { status: 'rejected', changed: true, messages } });
    }
    return events;
  });
  if (events.length || products.size) await ctx.events.committed(events, [...products]);
  return out;
}

/** MariaDB's "value is out of range" (an unsigned column would go below zero), as mysql2 reports it. */
const outOfRange = (err: unknown): boolean => {
  for (let e = err; e instanceof Error; e = e.cause) {
    const errno = (e as { errno?: number }).errno;
    if (errno === 1690 || errno === 1264) return true;
  }
  return false;
};

/**
 * Holds every unit the batch wants with one statement, without reading the stock first: true when it
 * did. The stock columns are unsigned, so a product without enough units makes the statement fail as
 * a whole (MariaDB undoes the statement, keeps the transaction and the row locks it took, in product-id
 * order as `lockProducts` takes them): false, nothing held. A product with no row fails the batch (it
 * then runs one order at a time, and the single path rejects that order).
 */
async function holdAll(tx: Tx, wanted: Map<string, number>, at: Date): Promise<boolean> {
  if (wanted.size === 0) return true;
  try {
    const matched = await moveStockMany(tx, { held: wanted }, at);
    if (matched !== wanted.size)
      throw new Error(`a product of the batch has no row (${matched} of ${wanted.size})`);
    return true;
  } catch (err) {
    if (outOfRange(err)) return false;
    throw err;
  }
}
