import { and, eq, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { orderItems, orders, payments, type RiskDecision, users } from '../../db/schema';
import { releaseStock } from '../inventory/stock';
import { type OutcomeOrder, recordOutcomeMessages } from '../notifications/notifications';
import type { OrderContext } from '../orders/context';
import { orderLines } from '../orders/lines';
import type { StepOutcome } from '../orders/reserve';
import { lockOrder, type TransitionLog, transition, withTransitions } from '../orders/transition';
import type { RiskCounters } from './counters';
import type { RiskModel } from './model';

export interface RiskAssessment {
  /** 0–1, the model's probability that the order is fraudulent. */
  score: number;
  decision: RiskDecision;
  reasons: string[];
  /** Which weights scored it (`version@hash`). */
  model: string;
}

/** What screening is built from; `lib/wiring.ts` makes it from the configuration. */
export interface Screening {
  counters: RiskCounters;
  model: RiskModel;
  /** Scores at or above these review or reject the order (RISK_REVIEW_AT, RISK_REJECT_AT). */
  reviewAt: number;
  rejectAt: number;
  /** Told of every decision that took effect (metrics). */
  observe?: (a: RiskAssessment) => void;
}

/** Stripe-style test tokens that force a decision whatever the score (they charge like tok_visa). */
export const forcedDecisions: Readonly<Record<string, { decision: RiskDecision; reason: string }>> = {
  tok_riskLevelElevated: { decision: 'review', reason: 'test_token_elevated' },
  tok_riskLevelHighest: { decision: 'reject', reason: 'test_token_highest' },
};

export interface ScreenableOrder {
  id: string;
  userId: string;
  totalCents: number;
  paymentToken: string | null;
}

/**
 * Scores an order: one SQL statement by keys (the order's units, the account's age), one Redis script
 * (counts the order, reads the user's windows), then the model, which takes microseconds.
 */
export async function screenOrder(ctx: OrderContext, order: ScreenableOrder): Promise<RiskAssessment> {
  const s = ctx.screening;
  const token = order.paymentToken ?? '';
  const [facts] = await ctx.db
    .select({
      units: sql<string>`COALESCE(SUM(${orderItems.quantity}), 0)`,
      accountCreated: sql<
        string | Date | null
      >`(SELECT ${users.createdAt} FROM ${users} WHERE ${users.id} = ${order.userId})`,
    })
    .from(orderItems)
    .where(eq(orderItems.orderId, order.id));
  const units = Number(facts?.units ?? 0);
  const created = facts?.accountCreated ? new Date(facts.accountCreated) : null;
  const now = Date.now();
  const counters = await s.counters.observeOrder({
    userId: order.userId,
    orderId: order.id,
    token,
    amountCents: order.totalCents,
    units,
    at: now,
  });
  const { score, reasons } = s.model.score({
    ...counters,
    amountCents: order.totalCents,
    priorAvgAmountCents: counters.priorOrders ? counters.priorCents / counters.priorOrders : 0,
    priorAvgUnits: counters.priorOrders ? counters.priorUnits / counters.priorOrders : 0,
    accountAgeHours: created ? Math.max(0, now - created.getTime()) / 3_600_000 : 0,
    units,
  });
  const forced = forcedDecisions[token];
  const decision: RiskDecision =
    forced?.decision ?? (score >= s.rejectAt ? 'reject' : score >= s.reviewAt ? 'review' : 'approve');
  return {
    score: Math.round(score * 10_000) / 10_000,
    decision,
    reasons: forced ? [forced.reason, ...reasons] : reasons,
    model: s.model.id,
  };
}

/** The risk columns of an order, as stored. */
export function riskColumns(a: RiskAssessment) {
  return {
    riskScore: a.score,
    riskDecision: a.decision,
    riskReasons: a.reasons.join(',').slice(0, 255) || null,
    riskModel: a.model,
  };
}

/** A screening or review outcome, with the customer's messages written in its transaction (the outbox). */
export interface Screened extends StepOutcome {
  /** Outcome messages to hand to the `deliver` queue (written with the transition; the reconciler re-sends). */
  messages: string[];
}

/**
 * Ends an order as `rejected` for fraud: its stock goes back, nothing was or will be charged, and the
 * customer's message is written in the same transaction. The caller holds the order's lock.
 */
export async function rejectForFraud(
  ctx: Pick<OrderContext, 'piiKey'>,
  log: TransitionLog,
  order: OutcomeOrder,
  extra: Partial<ReturnType<typeof riskColumns>> = {},
): Promise<Screened> {
  const lines = await orderLines(log.tx, order.id);
  await releaseStock(log.tx, lines);
  log.stockMoved(lines);
  await transition(log, order.id, order.status, 'rejected', 'fraud_suspected', {
    ...extra,
    reservedUntil: null,
  });
  // A pay-later order's payment row was made when it was paid for; no charge was ever sent.
  await settleUncharged(log.tx, order.id, 'fraud_suspected');
  const messages = await recordOutcomeMessages(log.tx, ctx.piiKey, {
    ...order,
    status: 'rejected',
    failureReason: 'fraud_suspected',
  });
  return { status: 'rejected', changed: true, messages };
}

/**
 * Records the assessment on a reserved order and acts on it: `approve` leaves it reserved for its
 * charge (returns null: go on), `review` parks it (stock held, nothing charged), `reject` ends it.
 * An order that moved meanwhile (cancelled) is left as it is.
 */
export async function applyScreening(
  ctx: OrderContext,
  orderId: string,
  a: RiskAssessment,
): Promise<Screened | null> {
  const risk = riskColumns(a);
  if (a.decision === 'approve') {
    // The common case costs one autocommitted statement, no transaction: a compare-and-set on the status.
    const [res] = await ctx.db
      .update(orders)
      .set(risk)
      .where(and(eq(orders.id, orderId), eq(orders.status, 'reserved')));
    if (res.affectedRows !== 1) {
      const [now] = await ctx.db.select({ status: orders.status }).from(orders).where(eq(orders.id, orderId));
      if (now?.status !== 'reserved')
        return { status: now?.status ?? 'failed', changed: false, messages: [] };
    }
    // No transition, but the order's risk changed: its cached reads go stale (no event is published).
    await ctx.events.committed([], [], [orderId]);
    ctx.screening.observe?.(a);
    return null;
  }
  const result = await withTransitions(ctx.db, ctx.events, async (log) => {
    const order = await lockOrder(log.tx, orderId);
    if (order?.status !== 'reserved')
      return { status: order?.status ?? 'failed', changed: false, messages: [] };
    // Approved meanwhile by a concurrent run of this step: that verdict stands.
    if (order.riskDecision === 'approve') return null;
    if (a.decision === 'review') {
      // The review's clock starts now: updatedAt is when the order entered `review` (REVIEW_TTL_SECONDS).
      await transition(log, orderId, 'reserved', 'review', undefined, risk);
      return { status: 'review' as const, changed: true, messages: [] };
    }
    return rejectForFraud(ctx, log, order, risk);
  });
  if (result?.changed) ctx.screening.observe?.(a);
  return result;
}

/** Marks a payment that never reached the gateway as failed (screening runs before any charge). */
export async function settleUncharged(tx: Tx, orderId: string, code: string): Promise<void> {
  await tx
    .update(payments)
    .set({ status: 'failed', failureCode: code, updatedAt: new Date() })
    .where(and(eq(payments.orderId, orderId), eq(payments.status, 'pending')));
}

/**
 * The one entry point before a charge: an order already approved (by screening or by an admin) goes
 * on; any other is scored and the decision applied. Null means "charge it".
 */
export async function screenBeforeCharge(
  ctx: OrderContext,
  order: ScreenableOrder & { riskDecision: RiskDecision | null },
): Promise<Screened | null> {
  if (order.riskDecision === 'approve') return null;
  return applyScreening(ctx, order.id, await screenOrder(ctx, order));
}

/**
 * `POST /payment`'s screening, before its charge is queued: what to do next, and the messages a
 * rejection wrote. `charge` also when the order moved meanwhile (the charge step then does nothing).
 */
export async function screenPayment(
  ctx: OrderContext,
  orderId: string,
): Promise<{ next: 'charge' | 'review' | 'rejected'; messages: string[] }> {
  const [order] = await ctx.db.select().from(orders).where(eq(orders.id, orderId)).limit(1);
  if (order?.status !== 'reserved' || !order.paymentToken) return { next: 'charge', messages: [] };
  const outcome = await screenBeforeCharge(ctx, order);
  if (outcome?.changed && (outcome.status === 'review' || outcome.status === 'rejected'))
    return { next: outcome.status, messages: outcome.messages };
  return { next: 'charge', messages: [] };
}
