import { and, eq, ne, sql } from 'drizzle-orm';
import type { Tx } from '../../../db/client';
import { isDuplicateKey } from '../../../db/errors';
import { orderItems, payments, refundItems, refunds } from '../../../db/schema';
import { newId } from '../../../lib/ids';
import { itemTraceParent } from '../../../lib/tracing';
import type { Actor } from '../../actor';
import { conflict, DomainError, notFound } from '../../errors';
import { recordEvents } from '../../outbox/write';
import type { OrderContext } from '../context';
import type { OrderStatus } from '../status';
import { lockOrder } from '../transition';
import { getRefundView, type RefundView } from './view';

export interface RefundLine {
  productId: string;
  quantity: number;
}

export interface RefundInput {
  orderId: string;
  /** Who asks (an admin, or an API key with refunds:write): the Idempotency-Key is theirs. */
  actor: Actor & { id: string };
  /** Exactly one of the two: an amount, or lines of the order (priced as they were sold). */
  amountCents?: number;
  items?: RefundLine[];
  /** Lines go back to `available` once the money is back (lines only; default true). */
  restock?: boolean;
  reason?: string;
  idempotencyKey?: string;
}

/** The refund, and whether this request made it (false: a replay of its Idempotency-Key). */
export interface RequestedRefund {
  refund: RefundView;
  created: boolean;
}

/** A stable fingerprint of what was asked, so a reused key with another body is told apart. */
export function refundRequestHash(input: RefundInput): string {
  const canonical = JSON.stringify({
    orderId: input.orderId,
    amountCents: input.amountCents ?? null,
    items: input.items
      ? [...input.items]
          .sort((a, b) => (a.productId < b.productId ? -1 : 1))
          .map((i) => [i.productId, i.quantity])
      : null,
    restock: input.items ? (input.restock ?? true) : null,
    reason: input.reason ?? null,
  });
  return new Bun.CryptoHasher('sha256').update(canonical).digest('hex');
}

/**
 * Records a refund's intent (`pending`), in one transaction, with the check that refunds never take
 * back more than was captured: the order and its payment are locked (in that order, as every step
 * locks them), the refunds not failed are summed and compared. Two refunds racing for the last cent
 * take turns on those locks: the second sees the first and is refused (409). The gateway is asked
 * only after this commits (`settleRefund`).
 */
export async function requestRefund(ctx: OrderContext, input: RefundInput): Promise<RequestedRefund> {
  const hash = refundRequestHash(input);
  let refundId: string;
  let created = true;
  try {
    ({ refundId, created } = await ctx.db.transaction(async (tx) => {
      // The order's lock first: requests for one order (a replay of a key among them) take turns, so a
      // replay finds what the first request with its key committed.
      const order = await lockOrder(tx, input.orderId);
      if (!order) throw notFound('Order');
      if (input.idempotencyKey) {
        const existing = await findByKey(tx, input.actor.id, input.idempotencyKey, hash);
        if (existing) return { refundId: existing, created: false };
      }
      return { refundId: await recordRefundIntent(tx, order, input, hash), created: true };
    }));
  } catch (err) {
    // Another request with this key is being recorded right now: it wins; this one may retry.
    if (isDuplicateKey(err))
      throw conflict('A refund request with this Idempotency-Key is in flight; retry it');
    throw err;
  }
  const refund = await getRefundView(ctx.db, refundId);
  if (!refund) throw notFound('Refund');
  return { refund, created };
}

async function findByKey(tx: Tx, requestedBy: string, key: string, hash: string): Promise<string | null> {
  const [row] = await tx
    .select({ id: refunds.id, requestHash: refunds.requestHash })
    .from(refunds)
    .where(and(eq(refunds.requestedBy, requestedBy), eq(refunds.idempotencyKey, key)))
    .limit(1);
  if (!row) return null;
  if (row.requestHash !== hash) {
    throw new DomainError('unprocessable', 'This Idempotency-Key was used with a different request body', [
      { field: 'Idempotency-Key', message: 'already used with another body' },
    ]);
  }
  return row.id;
}

/**
 * The intent's checks and writes (the caller's transaction, holding the order's lock). The one place a refund comes to exist:
 * an outbox event `refund.created` belongs here.
 */
export async function recordRefundIntent(
  tx: Tx,
  order: { status: OrderStatus },
  input: RefundInput,
  hash: string,
): Promise<string> {
  if (order.status !== 'paid' && order.status !== 'completed') {
    throw conflict(
      `The order is ${order.status}: only an order whose money was captured (paid or completed) can be refunded`,
    );
  }
  const [payment] = await tx
    .select()
    .from(payments)
    .where(eq(payments.orderId, input.orderId))
    .for('update')
    .limit(1);
  if (!payment || (payment.status !== 'succeeded' && payment.status !== 'partially_refunded')) {
    throw conflict('Nothing captured is left to refund on this order');
  }
  const restock = input.items ? (input.restock ?? true) : false;
  // A paid order's units are still held for it (completion takes them off the books): putting them
  // back on the shelf now would count them twice.
  if (restock && order.status !== 'completed') {
    throw conflict(
      'The order is paid but not yet completed: its units are still held for it. Refund with restock: false, or once it is completed',
    );
  }
  const amountCents = input.items
    ? await priceLines(tx, input.orderId, input.items)
    : (input.amountCents ?? 0);
  const [taken] = await tx
    .select({ cents: sql<string | null>`SUM(${refunds.amountCents})` })
    .from(refunds)
    .where(and(eq(refunds.orderId, input.orderId), ne(refunds.status, 'failed')));
  const already = Number(taken?.cents ?? 0);
  const left = Math.max(0, payment.amountCents - already);
  if (amountCents > left) {
    throw new DomainError(
      'conflict',
      `This refund (${amountCents}) would take back more than is left of what was captured (${left} of ${payment.amountCents})`,
      [{ field: input.items ? 'items' : 'amountCents', message: `at most ${left} can still be refunded` }],
    );
  }
  const id = newId('rf');
  const now = new Date();
  await tx.insert(refunds).values({
    id,
    orderId: input.orderId,
    amountCents,
    restock,
    reason: input.reason ?? null,
    status: 'pending',
    requestedBy: input.actor.id,
    actorType: input.actor.type,
    idempotencyKey: input.idempotencyKey ?? null,
    requestHash: input.idempotencyKey ? hash : null,
    createdAt: now,
    updatedAt: now,
  });
  if (input.items?.length) {
    await tx
      .insert(refundItems)
      .values(input.items.map((l) => ({ refundId: id, productId: l.productId, quantity: l.quantity })));
  }
  await recordEvents(tx, [
    {
      type: 'refund.created',
      orderId: input.orderId,
      refundId: id,
      at: now,
      traceParent: itemTraceParent(input.orderId),
    },
  ]);
  return id;
}

/**
 * The amount of the lines, as they were sold; 422 for a product the order does not have, or more
 * units than are left to return (the order's quantity less what refunds not failed took back).
 */
async function priceLines(tx: Tx, orderId: string, lines: RefundLine[]): Promise<number> {
  const sold = await tx
    .select({
      productId: orderItems.productId,
      quantity: orderItems.quantity,
      unitPriceCents: orderItems.unitPriceCents,
    })
    .from(orderItems)
    .where(eq(orderItems.orderId, orderId));
  const returned = await tx
    .select({ productId: refundItems.productId, units: sql<string>`SUM(${refundItems.quantity})` })
    .from(refundItems)
    .innerJoin(refunds, eq(refunds.id, refundItems.refundId))
    .where(and(eq(refunds.orderId, orderId), ne(refunds.status, 'failed')))
    .groupBy(refundItems.productId);
  const back = new Map(returned.map((r) => [r.productId, Number(r.units)]));
  const byProduct = new Map(sold.map((s) => [s.productId, s]));
  let cents = 0;
  for (const [i, line] of lines.entries()) {
    const item = byProduct.get(line.productId);
    if (!item) {
      throw new DomainError('unprocessable', `The order has no product ${line.productId}`, [
        { field: `items.${i}.productId`, message: 'not a product of this order' },
      ]);
    }
    const left = item.quantity - (back.get(line.productId) ?? 0);
    if (line.quantity > left) {
      throw new DomainError(
        'unprocessable',
        `Only ${left} of ${item.quantity} units of ${line.productId} are left to return`,
        [{ field: `items.${i}.quantity`, message: `at most ${left}` }],
      );
    }
    cents += line.quantity * item.unitPriceCents;
  }
  return cents;
}
