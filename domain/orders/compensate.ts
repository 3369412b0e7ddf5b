import { and, eq, isNull, lt } from 'drizzle-orm';
import { orders } from '../../db/schema';
import { type Actor, systemActor } from '../actor';
import { conflict, notFound } from '../errors';
import { releaseStock } from '../inventory/stock';
import { recordOutcomeMessages } from '../notifications/notifications';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { oweRefund, type RefundAnswer, refundIfCharged } from './refund';
import type { StepOutcome } from './reserve-one';
import { isFinal, type OrderStatus } from './status';
import { lockOrder, transition, withTransitions } from './transition';

/** How an unwind ended, with what the caller still has to hand on. */
export interface Unwound extends StepOutcome {
  /** The outcome messages written with the transition (the outbox): the caller queues them for delivery. */
  messages: string[];
  /** What the gateway said about the money; `owed` when it could not be asked (the reconciler settles it). */
  refund: RefundAnswer | 'owed';
}

/**
 * Ends a non-final order as `cancelled` or `failed`, undoing what it holds. One transaction releases
 * the stock, moves the status, records that a refund is owed and writes the customer's message; the
 * refund itself is a network call, made only after that commit (a call inside it would hold the order's
 * row lock and a pooled connection for as long as the gateway takes, and a rollback after it would
 * leave the money refunded on an order that goes on to complete).
 */
async function unwind(
  ctx: OrderContext,
  orderId: string,
  to: 'cancelled' | 'failed',
  reason: string,
  guard: (order: { status: OrderStatus; paymentToken: string | null }) => boolean = () => true,
  actor: Actor = systemActor,
): Promise<Unwound> {
  const ended = await withTransitions(
    ctx.db,
    ctx.events,
    async (log) => {
      const order = await lockOrder(log.tx, orderId);
      if (!order) throw notFound('Order');
      if (isFinal(order.status) || !guard(order)) {
        return { status: order.status, changed: false, messages: [], refundOwed: false };
      }
      if (order.status === 'reserved' || order.status === 'review' || order.status === 'paid') {
        const lines = await orderLines(log.tx, orderId);
        await releaseStock(log.tx, lines);
        log.stockMoved(lines);
      }
      await transition(log, orderId, order.status, to, reason, { reservedUntil: null });
      // A payment row means a charge was at least attempted: whatever it took is owed back.
      const refundOwed = await oweRefund(log.tx, orderId);
      const messages = await recordOutcomeMessages(log.tx, ctx.piiKey, {
        ...order,
        status: to,
        failureReason: reason,
      });
      return { status: to, changed: true, messages, refundOwed };
    },
    actor,
  );
  const { refundOwed, ...outcome } = ended;
  if (!refundOwed) return { ...outcome, refund: 'none' };
  try {
    return { ...outcome, refund: await refundIfCharged(ctx, orderId) };
  } catch {
    // The gateway (or its circuit) said no: the order stays ended, the refund owed; the reconciler pays it.
    return { ...outcome, refund: 'owed' };
  }
}

/** The customer's, an admin's or an API key's cancel (`actor` says which): 409 once the order is final. */
export async function cancelOrder(ctx: OrderContext, orderId: string, actor: Actor): Promise<Unwound> {
  const outcome = await unwind(ctx, orderId, 'cancelled', 'cancelled_by_user', undefined, actor);
  if (!outcome.changed) throw conflict(`The order is ${outcome.status} and can no longer be cancelled`);
  return outcome;
}

/** A step ran out of attempts: the order ends `failed`, with nothing held and nothing charged. */
export async function failOrder(ctx: OrderContext, orderId: string, reason: string): Promise<Unwound> {
  return unwind(ctx, orderId, 'failed', reason.slice(0, 255));
}

/** What an expiry pass did: the orders it ended (with their messages) and those it could not end. */
export interface ExpiryPass {
  expired: { orderId: string; messages: string[] }[];
  /** Orders whose expiry threw (e.g. a customer's contact no longer decrypts): left as they were. */
  failed: { orderId: string; error: unknown }[];
}

/**
 * Cancels unpaid orders whose hold ran out, each in its own transaction: one that cannot be ended is
 * reported in `failed` and the others go on (a single bad row must not keep every hold held).
 */
export async function expireHolds(ctx: OrderContext, now = new Date(), limit = 500): Promise<ExpiryPass> {
  const due = await ctx.db
    .select({ id: orders.id })
    .from(orders)
    .where(and(eq(orders.status, 'reserved'), isNull(orders.paymentToken), lt(orders.reservedUntil, now)))
    .limit(limit);
  const pass: ExpiryPass = { expired: [], failed: [] };
  for (const { id } of due) {
    try {
      const outcome = await unwind(
        ctx,
        id,
        'cancelled',
        'reservation_expired',
        (o) => o.status === 'reserved' && o.paymentToken === null,
      );
      if (outcome.changed) pass.expired.push({ orderId: id, messages: outcome.messages });
    } catch (error) {
      pass.failed.push({ orderId: id, error });
    }
  }
  return pass;
}
