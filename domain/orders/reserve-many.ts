import { notFound } from '../errors';
import { recordOutcomeMessages } from '../notifications/notifications';
import type { OrderContext } from './context';
import {
  byId,
  type Decided,
  linesOf,
  lockOrders,
  lockProducts,
  moveStockMany,
  transitionMany,
  unitsPerProduct,
} from './group';
import type { ReserveOutcome } from './reserve';

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
    const locked = await lockOrders(tx, orderIds);
    const pending = orderIds.filter((id) => locked.get(id)?.status === 'pending');
    const lines = await linesOf(tx, pending);
    const stock = await lockProducts(tx, [...unitsPerProduct(lines.values()).keys()]);
    const held = new Map<string, number>();
    const now = new Date();
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
      const mine = [...(lines.get(id) ?? [])].sort((a, b) => byId(a.productId, b.productId));
      const short = mine.find(
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
    await moveStockMany(tx, { held }, now);
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
