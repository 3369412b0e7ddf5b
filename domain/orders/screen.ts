import { and, count, eq, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { caseWhen, marks, write } from '../../db/raw';
import { orderItems, orders, payments, type RiskDecision, users } from '../../db/schema';
import { newId } from '../../lib/ids';
import {
  assess,
  type OrderFacts,
  observed,
  orderFacts,
  type RiskAssessment,
  riskColumns,
  type ScreenableOrder,
} from '../fraud/screening';
import { releaseStock } from '../inventory/stock';
import { type OutcomeOrder, recordOutcomeMessages } from '../notifications/notifications';
import { chargeKey } from '../payments/gateway';
import { authorizeHeld } from './authorize';
import type { OrderContext } from './context';
import { orderLines } from './lines';
import { oweRefund } from './refund';
import type { StepOutcome } from './reserve-one';
import { lockOrder, type TransitionLog, transition, withTransitions } from './transition';

/**
 * Scores an order: one SQL statement by keys (the order's units, the account's age), one Redis script
 * (counts the order, reads the user's windows), then the model, which takes microseconds.
 */
export async function screenOrder(ctx: OrderContext, order: ScreenableOrder): Promise<RiskAssessment> {
  const [facts] = await ctx.db
    .select({
      units: sql<string>`COALESCE(SUM(${orderItems.quantity}), 0)`,
      accountCreated: sql<
        string | Date | null
      >`(SELECT ${users.createdAt} FROM ${users} WHERE ${users.id} = ${order.userId})`,
    })
    .from(orderItems)
    .where(eq(orderItems.orderId, order.id));
  const f = orderFacts(facts?.units, facts?.accountCreated);
  const now = Date.now();
  const counters = await ctx.screening.counters.observeOrder(observed(order, f, now));
  return assess(ctx.screening, order, f, counters, now, ctx.gateway.testMode);
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
  reason: 'fraud_suspected' | 'too_many_holds' = 'fraud_suspected',
): Promise<Screened> {
  const lines = await orderLines(log.tx, order.id);
  await releaseStock(log.tx, lines);
  log.stockMoved(lines);
  await transition(log, order.id, order.status, 'rejected', reason, {
    ...extra,
    reservedUntil: null,
  });
  // From review: its authorization is owed back (voided after the commit, by the caller). Otherwise a
  // pay-later order's payment row was made when it was paid for, and no charge was ever sent.
  if (order.status === 'review') await oweRefund(log.tx, order.id);
  else await settleUncharged(log.tx, order.id, reason);
  const messages = await recordOutcomeMessages(log.tx, ctx.piiKey, {
    ...order,
    status: 'rejected',
    failureReason: reason,
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
  options: { authorize?: boolean } = {},
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
    // No transition and nothing to invalidate: a live order is never cached (api/routes/orders/get.ts).
    ctx.screening.observe?.(a);
    return null;
  }
  const result = await withTransitions(ctx.db, ctx.events, async (log) => {
    const order = await lockOrder(log.tx, orderId);
    if (order?.status !== 'reserved')
      return { status: order?.status ?? 'failed', changed: false, messages: [] };
    // Approved meanwhile by a concurrent run of this step: that verdict stands.
    if (order.riskDecision === 'approve') return null;
    if (a.decision === 'review') return holdForReview(ctx, log, order, risk);
    return rejectForFraud(ctx, log, order, risk);
  });
  if (result?.changed) ctx.screening.observe?.(a);
  // Held for review: its money is authorized now, after the move to review committed.
  if (result?.changed && result.status === 'review' && options.authorize !== false) {
    const authorized = await authorizeHeld(ctx, orderId);
    if (authorized.changed) return authorized;
  }
  return result;
}

/**
 * Parks a reserved order in `review` (stock held) and records the intent to authorize its money (a
 * `manual` payment row, captured on approval), unless the user already holds MAX_UNPAID_ORDERS
 * orders in review or reserved unpaid: then it is rejected (`too_many_holds`), nothing authorized.
 * The count is taken under a lock on the user's row, as `POST /orders` takes it, so that two orders
 * of one user entering review at once take turns. The caller holds the order's lock.
 */
async function holdForReview(
  ctx: OrderContext,
  log: TransitionLog,
  order: OutcomeOrder & { paymentToken: string | null },
  risk: ReturnType<typeof riskColumns>,
): Promise<Screened> {
  await log.tx.select({ id: users.id }).from(users).where(eq(users.id, order.userId)).for('update');
  const [held] = await log.tx
    .select({ n: count() })
    .from(orders)
    .where(
      and(
        eq(orders.userId, order.userId),
        or(
          eq(orders.status, 'review'),
          and(isNull(orders.paymentToken), inArray(orders.status, ['pending', 'reserved'])),
        ),
      ),
    );
  if ((held?.n ?? 0) >= ctx.screening.maxHolds)
    return rejectForFraud(ctx, log, order, risk, 'too_many_holds');
  // The review's clock starts now: updatedAt is when the order entered `review` (REVIEW_TTL_SECONDS).
  await transition(log, order.id, 'reserved', 'review', undefined, risk);
  const now = new Date();
  await log.tx
    .insert(payments)
    .values({
      id: newId('pay'),
      orderId: order.id,
      status: 'pending',
      captureMethod: 'manual',
      amountCents: order.totalCents,
      currency: order.currency,
      idempotencyKey: chargeKey(order.id),
      createdAt: now,
      updatedAt: now,
    })
    // A pay-later order's row was made when it was paid for, and nothing was sent to the gateway yet.
    .onDuplicateKeyUpdate({ set: { captureMethod: 'manual', updatedAt: now } });
  return { status: 'review', changed: true, messages: [] };
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
  options: { authorize?: boolean } = {},
): Promise<Screened | null> {
  if (order.riskDecision === 'approve' || ctx.screening.enabled === false) return null;
  return applyScreening(ctx, order.id, await screenOrder(ctx, order), options);
}

/**
 * `POST /payment`'s screening, before its charge is queued: what to do next, and the messages a
 * rejection wrote. `charge` also when the order moved meanwhile (the charge step then does nothing).
 */
export async function screenPayment(
  ctx: OrderContext,
  orderId: string,
): Promise<{ next: 'charge' | 'rejected'; messages: string[] }> {
  const [order] = await ctx.db.select().from(orders).where(eq(orders.id, orderId)).limit(1);
  if (order?.status !== 'reserved' || !order.paymentToken) return { next: 'charge', messages: [] };
  // An order held for review is authorized by the charge step (which finds it in review), not here:
  // the API does not wait for the gateway.
  const outcome = await screenBeforeCharge(ctx, order, { authorize: false });
  if (outcome?.changed && outcome.status === 'rejected')
    return { next: 'rejected', messages: outcome.messages };
  return { next: 'charge', messages: [] };
}

/** An order a charge batch screens, with the facts its first read fetched. */
export type BatchScreenable = ScreenableOrder & { riskDecision: RiskDecision | null } & OrderFacts;

/**
 * `screenBeforeCharge` for a charge batch, with the same answers per order: null means "charge it",
 * an outcome means it stops there, an error fails that order alone. The facts come with the batch's
 * first read; the Redis counters go in one pipeline; the approvals (nearly every order) are stored
 * with one compare-and-set UPDATE for the batch before any of them is charged; a review or a
 * rejection goes through `applyScreening` as on the single-order path.
 */
export async function screenBeforeChargeMany(
  ctx: OrderContext,
  batch: BatchScreenable[],
): Promise<Map<string, Screened | null | { error: unknown }>> {
  const out = new Map<string, Screened | null | { error: unknown }>();
  const off = ctx.screening.enabled === false;
  const todo = batch.filter((o) => {
    if (o.riskDecision === 'approve' || off) out.set(o.id, null);
    return o.riskDecision !== 'approve' && !off;
  });
  if (todo.length === 0) return out;
  const now = Date.now();
  const counted = await ctx.screening.counters.observeOrders(todo.map((o) => observed(o, o, now)));
  const approved: { id: string; a: RiskAssessment }[] = [];
  const other: { id: string; a: RiskAssessment }[] = [];
  todo.forEach((o, i) => {
    const c = counted[i];
    if (c?.status !== 'fulfilled') {
      out.set(o.id, { error: c?.reason ?? new Error('no counters') });
      return;
    }
    const a = assess(ctx.screening, o, o, c.value, now, ctx.gateway.testMode);
    (a.decision === 'approve' ? approved : other).push({ id: o.id, a });
  });
  const applying = Promise.all(
    other.map(({ id, a }) =>
      applyScreening(ctx, id, a).then(
        (r) => out.set(id, r),
        (error: unknown) => out.set(id, { error }),
      ),
    ),
  );
  if (approved.length) {
    try {
      const stored = await storeApprovals(ctx, approved);
      for (const { id } of approved) out.set(id, stored.get(id) ?? null);
    } catch (error) {
      for (const { id } of approved) out.set(id, { error });
    }
  }
  await applying;
  return out;
}

/**
 * One UPDATE … CASE for the batch's approvals, a compare-and-set on `reserved` as applyScreening's.
 * If a row did not take it (the order moved meanwhile), their statuses are read and the orders that
 * left `reserved` are answered as they are; the rest go on.
 */
async function storeApprovals(ctx: OrderContext, approved: { id: string; a: RiskAssessment }[]) {
  const out = new Map<string, Screened | null>();
  const byKey = [...approved].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const ids = byKey.map((x) => x.id);
  const params: unknown[] = [];
  const cases = (pick: (a: RiskAssessment) => string | number | null) =>
    caseWhen(
      '`orders`.`id`',
      byKey.map((x) => [x.id, pick(x.a)] as const),
      params,
    );
  const score = cases((a) => riskColumns(a).riskScore);
  const reasons = cases((a) => riskColumns(a).riskReasons);
  const model = cases((a) => riskColumns(a).riskModel);
  params.push(...ids);
  // Through the primary key, forced (as the batches' other updates): a scan would lock other rows.
  const res = await write(
    ctx.db,
    `UPDATE \`orders\` FORCE INDEX (PRIMARY) SET \`risk_score\` = ${score}, \`risk_decision\` = 'approve', ` +
      `\`risk_reasons\` = ${reasons}, \`risk_model\` = ${model} ` +
      `WHERE (\`orders\`.\`id\` IN (${marks(ids.length)}) AND \`orders\`.\`status\` = 'reserved')`,
    params,
  );
  const moved = new Map<string, Screened['status']>();
  if (res.affectedRows !== ids.length) {
    const now = await ctx.db
      .select({ id: orders.id, status: orders.status })
      .from(orders)
      .where(inArray(orders.id, ids));
    const found = new Map(now.map((r) => [r.id, r.status]));
    for (const orderId of ids) {
      const status = found.get(orderId) ?? 'failed';
      if (status !== 'reserved') moved.set(orderId, status);
    }
  }
  for (const { id: orderId, a } of approved) {
    const status = moved.get(orderId);
    if (status) out.set(orderId, { status, changed: false, messages: [] });
    else ctx.screening.observe?.(a);
  }
  // No transition and nothing to invalidate: a live order is never cached (api/routes/orders/get.ts).
  return out;
}
