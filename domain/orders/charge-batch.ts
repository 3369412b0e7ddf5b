import type { Tx } from '../../db/client';
import { caseWhen, marks, select, write } from '../../db/raw';
import type { RiskDecision } from '../../db/schema';
import { spanEach, tracingOn } from '../../lib/tracing';
import { notFound } from '../errors';
import { type OrderFacts, orderFacts } from '../fraud/screening';
import { type ChargeResult, chargeKey } from '../payments/gateway';
import { chargeOrder } from './charge-one';
import { claimPayments } from './claim';
import type { OrderContext } from './context';
import {
  byId,
  CompareAndSetMissed,
  type Decided,
  linesOf,
  lockOrders,
  moveStockMany,
  transitionMany,
  unitsPerProduct,
} from './group-commit';
import { refundIfCharged } from './refund';
import type { StepOutcome } from './reserve-one';
import { screenBeforeChargeMany } from './screen';
import type { OrderEvent, OrderStatus } from './status';
import { chargeTraced } from './traced-charge';

type ChargeRow = {
  id: string;
  userId: string;
  totalCents: number;
  currency: string;
  paymentToken: string;
  riskDecision: RiskDecision | null;
} & OrderFacts;

/**
 * `chargeOrder` for many orders (group commit), with the same guarantees: the payment rows exist
 * before the gateway is asked (one multi-row insert), the gateway is asked per order with the
 * payment's own idempotency key, concurrently and outside any transaction, and the answers are
 * recorded in one transaction that compare-and-sets every order still `reserved`. An order that was
 * cancelled meanwhile keeps its status and its charge is refunded after the commit. A gateway error
 * fails that order's job only (it retries; the key makes the retry safe).
 */
export async function chargeOrders(
  ctx: OrderContext,
  orderIds: string[],
): Promise<Map<string, Decided<StepOutcome>>> {
  const out = new Map<string, Decided<StepOutcome>>();
  const rows = await select<{
    id: string;
    userId: string;
    status: OrderStatus;
    paymentToken: string | null;
    totalCents: number;
    currency: string;
    riskDecision: RiskDecision | null;
    captureMethod: 'automatic' | 'manual' | null;
    units: string | number;
    accountCreated: string | Date | null;
  }>(ctx.db, batchRead(orderIds.length), orderIds);
  const found = new Map(rows.map((r) => [r.id, r]));
  const settle: string[] = [];
  const held: string[] = [];
  const due: ChargeRow[] = [];
  for (const id of orderIds) {
    const row = found.get(id);
    if (!row) out.set(id, { ok: false, error: notFound('Order') });
    else if (row.status === 'cancelled' || row.status === 'failed') settle.push(id);
    // Held for review (its authorization owed) or approved after it (its capture owed): rare, and
    // decided one by one on the single-order path.
    else if (row.status === 'review' || row.captureMethod === 'manual') held.push(id);
    else if (row.status !== 'reserved' || !row.paymentToken)
      out.set(id, { ok: true, value: { status: row.status, changed: false } });
    else
      due.push({
        ...row,
        paymentToken: row.paymentToken,
        ...orderFacts(row.units, row.accountCreated),
      });
  }
  // Money may have been taken by an attempt that crashed before it could record it. These refunds
  // run beside the charges, not before them: the orders to charge must reach their payment row and
  // the gateway as soon after their status was read as on the single-order path (a cancel landing in
  // a longer gap would find no payment row, and the charge's refund would come late).
  const settling = Promise.all(
    settle.map((id) =>
      settleOne(ctx, id).then(
        () => out.set(id, { ok: true, value: { status: found.get(id)?.status ?? 'failed', changed: false } }),
        (error) => out.set(id, { ok: false, error }),
      ),
    ),
  );
  const single = Promise.all(
    held.map((id) =>
      chargeOrder(ctx, id).then(
        (value) => out.set(id, { ok: true, value }),
        (error) => out.set(id, { ok: false, error }),
      ),
    ),
  );
  await chargeDue(ctx, due, out);
  await Promise.all([settling, single]);
  return out;
}

/** Screening decides the batch at once; each order still gets a `screen` span in its own trace. */
function screenTraced(ctx: OrderContext, candidates: ChargeRow[]) {
  return spanEach(
    candidates.map((o) => o.id),
    'screen',
    (id) => ({ 'order.id': id }),
    () => screenBeforeChargeMany(ctx, candidates),
    (id, span, found) => {
      const v = found.get(id);
      span.setAttribute('screen.verdict', v === null ? 'approved' : v && 'status' in v ? v.status : 'error');
    },
  );
}

/** The batch's first read, with what fraud screening needs (one statement, not one per order). */
const batchRead = (n: number) =>
  'SELECT `orders`.`id` AS `id`, `orders`.`user_id` AS `userId`, `orders`.`status` AS `status`, ' +
  '`orders`.`payment_token` AS `paymentToken`, `orders`.`total_cents` AS `totalCents`, ' +
  '`orders`.`currency` AS `currency`, `orders`.`risk_decision` AS `riskDecision`, ' +
  '(SELECT COALESCE(SUM(`order_items`.`quantity`), 0) FROM `order_items` WHERE `order_items`.`order_id` = `orders`.`id`) AS `units`, ' +
  '(SELECT `users`.`created_at` FROM `users` WHERE `users`.`id` = `orders`.`user_id`) AS `accountCreated`, ' +
  '(SELECT `payments`.`capture_method` FROM `payments` WHERE `payments`.`order_id` = `orders`.`id`) AS `captureMethod` ' +
  `FROM \`orders\` WHERE \`orders\`.\`id\` IN (${marks(n)})`;

async function chargeDue(ctx: OrderContext, candidates: ChargeRow[], out: Map<string, Decided<StepOutcome>>) {
  if (candidates.length === 0) return;
  // Fraud screening comes before any money is asked for, as on the single-order path: an order held
  // for review or rejected goes no further (its screening recorded the decision). The batch's
  // approvals are stored (one statement) before the payment rows are made.
  const verdicts = tracingOn()
    ? await screenTraced(ctx, candidates)
    : await screenBeforeChargeMany(ctx, candidates);
  const screened = candidates.map((o) => {
    // Never charged unscreened: an order the screening did not answer fails its job (it retries).
    const verdict = verdicts.has(o.id) ? (verdicts.get(o.id) ?? null) : { error: new Error('not screened') };
    if (verdict === null) return o;
    if ('error' in verdict) out.set(o.id, { ok: false, error: verdict.error });
    else out.set(o.id, { ok: true, value: { status: verdict.status, changed: verdict.changed } });
    return null;
  });
  const approved = screened.filter((o): o is ChargeRow => o !== null);
  if (approved.length === 0) return;
  // Charge only what is still reserved now that its payment row exists. A cancel that committed before
  // the row was there owed no refund (there was no payment to owe one for): charging it now would
  // take money that only a later refund gives back, after the order already looks final. A cancel
  // from here on finds the row and owes the refund; if it asks before the charge lands, the record
  // below sees the order cancelled and refunds. The insert itself answers for the orders it finds
  // reserved; only when it did not find them all are their statuses read.
  const allReserved = await claimPayments(ctx.db, approved);
  const still = allReserved
    ? approved.map((o) => ({ id: o.id, status: 'reserved' as const }))
    : await select<{ id: string; status: OrderStatus }>(
        ctx.db,
        `SELECT \`id\`, \`status\` FROM \`orders\` WHERE \`orders\`.\`id\` IN (${marks(approved.length)})`,
        approved.map((o) => o.id),
      );
  const current = new Map<string, OrderStatus>(still.map((r) => [r.id, r.status]));
  for (const o of approved) {
    const status = current.get(o.id) ?? 'failed';
    if (status !== 'reserved') out.set(o.id, { ok: true, value: { status, changed: false } });
  }
  const due = approved.filter((o) => current.get(o.id) === 'reserved');
  if (due.length === 0) return;
  const answers = await Promise.all(
    due.map((o) =>
      // The gateway call is a span of the order's trace (never the token: only the outcome).
      chargeTraced(ctx.gateway, o, {
        idempotencyKey: chargeKey(o.id),
        token: o.paymentToken,
        amountCents: o.totalCents,
        currency: o.currency,
      }).then(
        (result) => ({ order: o, result }),
        (error: unknown) => {
          out.set(o.id, { ok: false, error });
          return null;
        },
      ),
    ),
  );
  const answered = answers.filter((a): a is { order: ChargeRow; result: ChargeResult } => a !== null);
  if (answered.length === 0) return;
  const toRefund: string[] = [];
  const { events, products } = await record(ctx, answered, out, toRefund);
  if (events.length || products.length) await ctx.events.committed(events, products);
  // Cancelled (or failed) while the gateway was charging it: give the money back.
  await Promise.all(
    toRefund.map((id) => settleOne(ctx, id).catch((error) => out.set(id, { ok: false, error }))),
  );
}

async function settleOne(ctx: OrderContext, orderId: string): Promise<void> {
  await refundIfCharged(ctx, orderId);
}

type Paid = { orderId: string; to: 'paid'; ref: string };
type Declined = { orderId: string; to: 'payment_failed'; reason: string };

/**
 * One transaction records every gateway answer whose order is still `reserved`. Nearly always every
 * order of the batch still is: the compare-and-set itself (one UPDATE whose matched-row count must be
 * the batch's size) tells, with no locking read before it. When an order moved meanwhile (a cancel
 * landed during the charge), that transaction is rolled back whole and the batch is recorded again
 * with the orders locked and read first, each decided on what it is now.
 */
async function record(
  ctx: OrderContext,
  answered: { order: ChargeRow; result: ChargeResult }[],
  out: Map<string, Decided<StepOutcome>>,
  toRefund: string[],
): Promise<{ events: OrderEvent[]; products: string[] }> {
  const paid: Paid[] = [];
  const declined: Declined[] = [];
  for (const { order, result } of answered) {
    if (result.outcome === 'succeeded') paid.push({ orderId: order.id, to: 'paid', ref: result.ref });
    else declined.push({ orderId: order.id, to: 'payment_failed', reason: result.code });
  }
  try {
    const written = await ctx.db.transaction((tx) => writeAnswers(tx, paid, declined, new Date()));
    for (const p of paid) out.set(p.orderId, { ok: true, value: { status: 'paid', changed: true } });
    for (const d of declined)
      out.set(d.orderId, { ok: true, value: { status: 'payment_failed', changed: true } });
    return written;
  } catch (err) {
    if (!(err instanceof CompareAndSetMissed)) throw err;
  }
  return ctx.db.transaction(async (tx) => {
    const locked = await lockOrders(
      tx,
      answered.map((a) => a.order.id),
    );
    const still = (id: string) => locked.get(id)?.status === 'reserved';
    for (const { order, result } of answered) {
      const current = locked.get(order.id);
      if (current?.status !== 'reserved') {
        out.set(order.id, { ok: true, value: { status: current?.status ?? 'failed', changed: false } });
        if (result.outcome === 'succeeded' && current?.status !== 'paid' && current?.status !== 'completed')
          toRefund.push(order.id);
      } else if (result.outcome === 'succeeded') {
        out.set(order.id, { ok: true, value: { status: 'paid', changed: true } });
      } else {
        out.set(order.id, { ok: true, value: { status: 'payment_failed', changed: true } });
      }
    }
    return writeAnswers(
      tx,
      paid.filter((p) => still(p.orderId)),
      declined.filter((d) => still(d.orderId)),
      new Date(),
    );
  });
}

/** The answers' writes: a decline gives its held stock back; every order moves; every payment settles. */
async function writeAnswers(
  tx: Tx,
  paid: Paid[],
  declined: Declined[],
  now: Date,
): Promise<{ events: OrderEvent[]; products: string[] }> {
  // The orders first (the compare-and-set locks them, sorted by id), then the products: the same lock
  // order as every other step.
  const events = await transitionMany(tx, 'reserved', [...paid, ...declined], now);
  // A decline gives the held stock back in the same transaction.
  const lines = await linesOf(
    tx,
    declined.map((d) => d.orderId),
  );
  const released = unitsPerProduct(lines.values());
  await moveStockMany(tx, { released }, now);
  const settled = [...paid, ...declined].sort((a, b) => byId(a.orderId, b.orderId));
  if (settled.length) {
    const params: unknown[] = [];
    // Each column changes only for the rows named; the others keep their value (ELSE column).
    const cases = (entries: (readonly [string, string])[], column: string) =>
      entries.length ? caseWhen('`payments`.`order_id`', entries, params, column) : column;
    const status = cases(
      settled.map((s) => [s.orderId, s.to === 'paid' ? 'succeeded' : 'failed'] as const),
      '`payments`.`status`',
    );
    const ref = cases(
      paid.map((p) => [p.orderId, p.ref] as const),
      '`payments`.`gateway_ref`',
    );
    const code = cases(
      declined.map((d) => [d.orderId, d.reason] as const),
      '`payments`.`failure_code`',
    );
    params.push(now, ...settled.map((s) => s.orderId));
    // Through its unique order_id index, forced: on a small table the optimizer would scan it and
    // lock rows of other batches' payments too. The status = 'pending' is a compare-and-set, as in
    // chargeOrder: only a payment still waiting for this answer.
    await write(
      tx,
      `UPDATE \`payments\` FORCE INDEX (payments_order_uq) SET \`status\` = ${status}, \`gateway_ref\` = ${ref}, ` +
        `\`failure_code\` = ${code}, \`updated_at\` = ? ` +
        `WHERE (\`payments\`.\`order_id\` IN (${marks(settled.length)}) AND \`payments\`.\`status\` = 'pending')`,
      params,
    );
  }
  return { events, products: [...released.keys()] };
}
