import { and, eq, inArray } from 'drizzle-orm';
import Stripe from 'stripe';
import type { Tx } from '../../db/client';
import { isDuplicateKey } from '../../db/errors';
import { orders, payments, refunds, stripeEvents } from '../../db/schema';
import { newId } from '../../lib/ids';
import { itemTraceParent } from '../../lib/tracing';
import { DomainError } from '../errors';
import { releaseStock } from '../inventory/stock';
import { recordOutcomeMessages } from '../notifications/notifications';
import { recordEvents } from '../outbox/write';
import { declineReason } from '../payments/stripe-declines';
import { ORDER_ID_METADATA, REFUND_KEY_METADATA } from '../payments/stripe-gateway';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { recordRefundMessage } from './refunds/settle';
import { lockOrder, type TransitionLog, transition, withTransitions } from './transition';

/** Stripe's refunds of a PaymentIntent, asked of Stripe (a `charge.refunded` event no longer lists them). */
export interface StripeRefundLister {
  refundsOf(paymentIntentId: string): Promise<Stripe.Refund[]>;
}

/** What became of one webhook event. */
export interface StripeEventOutcome {
  /** `applied`: its effect committed now; `duplicate`: applied before; `ignored`: nothing of ours. */
  result: 'applied' | 'duplicate' | 'ignored';
  orderId?: string;
  /** Outcome messages written with a transition (the outbox): the caller queues them for delivery. */
  messages: string[];
}

/**
 * Checks `Stripe-Signature` against the endpoint's secret (HMAC over the raw body and its timestamp,
 * at most five minutes old) with Stripe's SDK. The async check: the sync one needs Node's sync crypto,
 * which Bun's build of the SDK does not have.
 */
export async function verifyStripeEvent(
  payload: string,
  signature: string,
  secret: string,
): Promise<Stripe.Event> {
  try {
    return await Stripe.webhooks.constructEventAsync(payload, signature, secret);
  } catch (err) {
    throw new DomainError('validation', `Stripe-Signature: ${(err as Error).message}`);
  }
}

type Effect = (
  tx: Tx,
  log: TransitionLog,
  order: { id: string; userId: string },
) => Promise<Partial<StripeEventOutcome>>;

/**
 * Applies one of Stripe's events to the order it is about, once however often it arrives: the event's
 * id is inserted in the transaction of its effect (a second delivery meets the primary key and changes
 * nothing; two at once take turns on it). An event about no order of ours is remembered and ignored.
 */
export async function applyStripeEvent(
  ctx: OrderContext,
  event: Stripe.Event,
  lister?: StripeRefundLister,
): Promise<StripeEventOutcome> {
  const [seen] = await ctx.db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(eq(stripeEvents.id, event.id));
  if (seen) return { result: 'duplicate', messages: [] };
  const order = await orderOf(ctx, event);
  // Network calls happen before the transaction, never inside it.
  const listed =
    order && event.type === 'charge.refunded' ? await refundsOfCharge(event.data.object, lister) : [];
  const effect = order ? effectOf(ctx, event, listed) : undefined;
  try {
    const outcome = await withTransitions(ctx.db, ctx.events, async (log) => {
      await log.tx
        .insert(stripeEvents)
        .values({ id: event.id, type: event.type, orderId: order?.id ?? null, receivedAt: new Date() });
      if (!order || !effect) return { result: 'ignored' as const, messages: [] };
      const done = await effect(log.tx, log, order);
      return { messages: [], ...done, result: 'applied' as const, orderId: order.id };
    });
    if (outcome.result === 'applied' && order && event.type === 'charge.dispute.created') {
      // A signal for screening, after the commit: best effort, like every counter.
      await ctx.screening.counters
        .recordDispute(order.userId, order.id, event.created * 1000)
        .catch(() => {});
    }
    return outcome;
  } catch (err) {
    if (isDuplicateKey(err)) return { result: 'duplicate', messages: [] };
    throw err;
  }
}

function effectOf(ctx: OrderContext, event: Stripe.Event, listed: Stripe.Refund[]): Effect | undefined {
  switch (event.type) {
    case 'charge.refunded':
      return (tx, _log, order) => refundsMadeAtStripe(tx, order.id, listed);
    case 'charge.dispute.created':
      return async (tx, _log, order) => {
        const at = new Date();
        await tx.update(orders).set({ disputed: true, updatedAt: at }).where(eq(orders.id, order.id));
        await recordEvents(tx, [
          { type: 'dispute.created', orderId: order.id, at, traceParent: itemTraceParent(order.id) },
        ]);
        return {};
      };
    case 'payment_intent.payment_failed':
      return (tx, log, order) => paymentFailedLater(ctx, tx, log, order.id, event.data.object);
    default:
      return undefined;
  }
}

/**
 * Stripe says a payment we had recorded as taken failed after all (a late failure; with cards rare,
 * with delayed methods normal). The payment is recorded `failed` with Stripe's reason. An order not yet
 * completed (`paid`) ends `failed` (reason `payment_failed_after_charge`), its stock released and the
 * customer told, as when a step gives up; a `completed` order keeps its status (what was sold is gone;
 * the payment's status says the money did not come). A payment still `pending` is left to the charge
 * step, which gets Stripe's answer itself.
 */
async function paymentFailedLater(
  ctx: OrderContext,
  tx: Tx,
  log: TransitionLog,
  orderId: string,
  pi: Stripe.PaymentIntent,
): Promise<Partial<StripeEventOutcome>> {
  const current = await lockOrder(tx, orderId);
  if (!current) return {};
  const now = new Date();
  const [res] = await tx
    .update(payments)
    .set({ status: 'failed', failureCode: declineReason(pi.last_payment_error ?? {}), updatedAt: now })
    .where(
      and(
        eq(payments.orderId, orderId),
        eq(payments.gatewayRef, pi.id),
        inArray(payments.status, ['succeeded', 'authorized']),
      ),
    );
  if (res.affectedRows !== 1 || current.status !== 'paid') return {};
  const lines = await orderLines(tx, orderId);
  await releaseStock(tx, lines);
  log.stockMoved(lines);
  const reason = 'payment_failed_after_charge';
  await transition(log, orderId, 'paid', 'failed', reason);
  const messages = await recordOutcomeMessages(tx, ctx.piiKey, {
    ...current,
    status: 'failed',
    failureReason: reason,
  });
  return { messages };
}

/** The charge's refunds: listed in the event by older API versions, else asked of Stripe. */
async function refundsOfCharge(charge: Stripe.Charge, lister?: StripeRefundLister): Promise<Stripe.Refund[]> {
  const inline = (charge as { refunds?: { data?: Stripe.Refund[]; has_more?: boolean } | null }).refunds;
  if (inline?.data && !inline.has_more) return inline.data;
  const intent =
    typeof charge.payment_intent === 'string' ? charge.payment_intent : charge.payment_intent?.id;
  if (!intent || !lister) return inline?.data ?? [];
  return lister.refundsOf(intent);
}

/**
 * Refunds made in Stripe (its dashboard, its API by someone else) join the order's refunds, each once
 * by its Stripe id (unique in `refunds`). A refund Orderflow made carries our key in its metadata and
 * is left to the code that made it (which records its answer, or the reconciler does): so it is never
 * counted twice, even when this event arrives before we recorded Stripe's answer.
 */
async function refundsMadeAtStripe(
  tx: Tx,
  orderId: string,
  listed: Stripe.Refund[],
): Promise<Partial<StripeEventOutcome>> {
  const theirs = listed.filter((r) => r.status === 'succeeded' && !r.metadata?.[REFUND_KEY_METADATA]);
  if (theirs.length === 0) return {};
  // The order, then its payment: the order the refund path takes its locks in.
  const order = await lockOrder(tx, orderId);
  const [payment] = await tx.select().from(payments).where(eq(payments.orderId, orderId)).for('update');
  if (!order || !payment) return {};
  const known = await tx
    .select({ ref: refunds.gatewayRef })
    .from(refunds)
    .where(
      inArray(
        refunds.gatewayRef,
        theirs.map((r) => r.id),
      ),
    );
  const fresh = theirs.filter((r) => !known.some((k) => k.ref === r.id));
  if (fresh.length === 0) return {};
  const now = new Date();
  const rows = fresh.map((r) => ({ id: newId('rf'), stripe: r }));
  await tx.insert(refunds).values(
    rows.map(({ id, stripe: r }) => ({
      id,
      orderId,
      amountCents: r.amount,
      restock: false,
      reason: 'refunded_in_stripe',
      status: 'succeeded' as const,
      gatewayRef: r.id,
      requestedBy: 'stripe',
      actorType: 'system' as const,
      createdAt: new Date(r.created * 1000),
      updatedAt: now,
    })),
  );
  // A refund made in Stripe's dashboard exists here already succeeded: both of its events at once.
  const traceParent = itemTraceParent(orderId);
  await recordEvents(
    tx,
    rows.flatMap(({ id }) => [
      { type: 'refund.created' as const, orderId, refundId: id, at: now, traceParent },
      { type: 'refund.succeeded' as const, orderId, refundId: id, at: now, traceParent },
    ]),
  );
  const refundedCents = Math.min(
    order.totalCents,
    order.refundedCents + fresh.reduce((sum, r) => sum + r.amount, 0),
  );
  await tx.update(orders).set({ refundedCents, updatedAt: now }).where(eq(orders.id, orderId));
  await tx
    .update(payments)
    .set({ status: refundedCents >= order.totalCents ? 'refunded' : 'partially_refunded', updatedAt: now })
    .where(and(eq(payments.orderId, orderId), inArray(payments.status, ['succeeded', 'partially_refunded'])));
  // The customer hears of every refund, ours or not (the same email, written with it: the outbox).
  const messages: string[] = [];
  for (const { id, stripe: r } of rows)
    messages.push(...(await recordRefundMessage(tx, order, { id, amountCents: r.amount })));
  return { messages };
}

/** The order an event is about: our metadata on the PaymentIntent, else the payment's recorded id. */
async function orderOf(
  ctx: OrderContext,
  event: Stripe.Event,
): Promise<{ id: string; userId: string } | undefined> {
  const object = event.data.object as unknown as {
    object?: string;
    id?: string;
    metadata?: Record<string, string> | null;
    payment_intent?: string | { id: string } | null;
  };
  const intent =
    object.object === 'payment_intent'
      ? object.id
      : typeof object.payment_intent === 'string'
        ? object.payment_intent
        : object.payment_intent?.id;
  const byMetadata = object.metadata?.[ORDER_ID_METADATA];
  const where = byMetadata
    ? eq(orders.id, byMetadata)
    : intent
      ? inArray(
          orders.id,
          ctx.db.select({ id: payments.orderId }).from(payments).where(eq(payments.gatewayRef, intent)),
        )
      : undefined;
  if (!where) return undefined;
  const [row] = await ctx.db
    .select({ id: orders.id, userId: orders.userId })
    .from(orders)
    .where(where)
    .limit(1);
  return row;
}
