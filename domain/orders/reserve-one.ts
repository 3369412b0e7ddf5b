import { notFound } from '../errors';
import { holdStock } from '../inventory/stock';
import { recordOutcomeMessages } from '../notifications/notifications';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import type { OrderStatus } from './status';
import { lockOrder, transition, withTransitions } from './transition';

export interface StepOutcome {
  status: OrderStatus;
  /** False when the step found its work done already (a retry) or not its to do (cancelled, final). */
  changed: boolean;
}

/** A reservation's outcome; a rejection carries the customer's messages, written with it (the outbox). */
export interface ReserveOutcome extends StepOutcome {
  /** Ids of the rejection's messages still to send (empty unless this run rejected the order). */
  messages: string[];
}

class OutOfStock extends Error {
  constructor(readonly productId: string) {
    super(`out of stock: ${productId}`);
  }
}

/**
 * Holds the stock of every item in one transaction, or records that the order is rejected.
 * Out of stock is a result, not a failure: the job completes either way.
 */
export async function reserveOrder(ctx: OrderContext, orderId: string): Promise<ReserveOutcome> {
  return withTransitions(ctx.db, ctx.events, async (log) => {
    const order = await lockOrder(log.tx, orderId);
    if (!order) throw notFound('Order');
    if (order.status !== 'pending') return { status: order.status, changed: false, messages: [] };
    const lines = await orderLines(log.tx, orderId);
    try {
      // A savepoint: a partial hold (the third item lacks stock) is undone, the rejection still commits.
      await log.tx.transaction(async (sp) => {
        const short = await holdStock(sp, lines);
        if (short) throw new OutOfStock(short);
      });
    } catch (err) {
      if (!(err instanceof OutOfStock)) throw err;
      const reason = `out_of_stock:${err.productId}`;
      await transition(log, orderId, 'pending', 'rejected', reason);
      // The customer's message commits with the rejection, whatever Redis does next (the outbox).
      const messages = await recordOutcomeMessages(log.tx, ctx.piiKey, {
        ...order,
        status: 'rejected',
        failureReason: reason,
      });
      return { status: 'rejected', changed: true, messages };
    }
    // An order without payment holds its stock only for a while (see expireHolds).
    const reservedUntil = order.paymentToken ? null : new Date(Date.now() + ctx.reservationTtlSeconds * 1000);
    await transition(log, orderId, 'pending', 'reserved', undefined, { reservedUntil });
    log.stockMoved(lines);
    return { status: 'reserved', changed: true, messages: [] };
  });
}
