import { and, count, eq, inArray, isNull, or } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';
import { isDuplicateKey } from '../../db/errors';
import { orderEvents, orderItems, orders, products, users } from '../../db/schema';
import { newId } from '../../lib/ids';
import { type Actor, actorColumns } from '../actor';
import { DomainError } from '../errors';
import { orderChanges, recordEvents } from '../outbox/write';
import type { OrderView } from './read';
import type { OrderEventSink } from './status';

export interface PlaceOrderInput {
  userId: string;
  items: { productId: string; quantity: number }[];
  paymentToken?: string | undefined;
  idempotencyKey?: string | undefined;
  /** Who places it: the signed-in person (an admin placing for themselves is `admin`); default the user. */
  actor?: Actor | undefined;
  /**
   * The W3C traceparent of the request placing it (lib/tracing.ts `activeTraceParent`, taken where the
   * request's span is active: a placing batch runs in a span of its own), for its `order.created` event.
   */
  traceParent?: string | undefined;
}

/** The actor of a placing: as given, else the customer whose order it is. */
export const placedBy = (input: PlaceOrderInput): Actor => input.actor ?? { type: 'user', id: input.userId };

/**
 * What an order without payment may hold: stock held by an unpaid order is held from everyone else
 * until it expires, so one account may keep only a few such orders, each of bounded size.
 */
export interface UnpaidLimits {
  /** Orders of one user that may wait unpaid (`pending` or `reserved`) or in `review` at once. */
  maxOrders: number;
  /** Units (the sum of quantities) one unpaid order may hold. */
  maxUnits: number;
}

export interface Placed {
  orderId: string;
  /** False when the idempotency key named an order that already existed: nothing was created. */
  created: boolean;
  /** The new order as stored (so the caller need not read it back); absent for an existing one. */
  order?: OrderView;
}

/** A stable fingerprint of what was asked, so a reused key with another body is told apart. */
export function requestHash(input: PlaceOrderInput): string {
  const canonical = JSON.stringify({
    items: [...input.items]
      .sort((a, b) => (a.productId < b.productId ? -1 : 1))
      .map((i) => [i.productId, i.quantity]),
    payment: input.paymentToken ?? null,
  });
  return new Bun.CryptoHasher('sha256').update(canonical).digest('hex');
}

/**
 * Stores the order as `pending` with its items priced from the catalogue, all in one transaction.
 * The unique (user, idempotency key) index is what makes racing duplicates create one order: the
 * losers wait on the winner's index lock, then find its row.
 */
export async function placeOrder(
  db: Db,
  events: OrderEventSink,
  input: PlaceOrderInput,
  limits: UnpaidLimits,
): Promise<Placed> {
  const hash = requestHash(input);
  if (input.idempotencyKey) {
    const existing = await findByKey(db, input.userId, input.idempotencyKey, hash);
    if (existing) return { orderId: existing, created: false };
  }
  const unpaid = !input.paymentToken;
  if (unpaid) checkUnpaidUnits(input, limits);
  const orderId = newId('ord');
  const now = new Date();
  let order: OrderView | undefined;
  let replayed: string | null = null;
  try {
    await db.transaction(async (tx) => {
      if (unpaid) {
        replayed = await holdUnpaidSlot(tx, input, hash, limits);
        if (replayed) return;
      }
      const ids = input.items.map((i) => i.productId);
      const rows = await tx
        .select({ id: products.id, priceCents: products.priceCents, currency: products.currency })
        .from(products)
        .where(inArray(products.id, ids));
      const built = buildOrder(input, hash, orderId, now, new Map(rows.map((r) => [r.id, r])));
      await tx.insert(orders).values(built.row);
      await tx.insert(orderItems).values(built.lines);
      await tx.insert(orderEvents).values({
        orderId,
        fromStatus: null,
        toStatus: 'pending',
        at: now,
        ...actorColumns(placedBy(input)),
      });
      await recordEvents(
        tx,
        orderChanges([{ orderId, to: 'pending', at: now, traceParent: input.traceParent }]),
      );
      order = built.view;
    });
  } catch (err) {
    if (input.idempotencyKey && isDuplicateKey(err)) {
      const existing = await findByKey(db, input.userId, input.idempotencyKey, hash);
      if (existing) return { orderId: existing, created: false };
      throw new DomainError('conflict', 'A request with this Idempotency-Key is in flight; retry');
    }
    throw err;
  }
  if (replayed) return { orderId: replayed, created: false };
  await events.committed([{ orderId, from: null, to: 'pending', at: now, actor: placedBy(input) }], []);
  return { orderId, created: true, ...(order ? { order } : {}) };
}

export type Catalogue = Map<string, { priceCents: number; currency: string }>;

/**
 * Prices an order from the catalogue (the client never sets a price) and checks what only the
 * catalogue can tell: every product exists, one currency, a total that fits. Throws a DomainError
 * naming the field; stores nothing.
 */
export function buildOrder(
  input: PlaceOrderInput,
  hash: string,
  orderId: string,
  now: Date,
  catalogue: Catalogue,
) {
  const ids = input.items.map((i) => i.productId);
  const unknown = ids.filter((id) => !catalogue.has(id));
  if (unknown.length) {
    throw new DomainError(
      'unprocessable',
      `Unknown product: ${unknown.join(', ')}`,
      unknown.map((id) => ({ field: `items.${ids.indexOf(id)}.productId`, message: 'no such product' })),
    );
  }
  const currencies = new Set(ids.map((id) => catalogue.get(id)?.currency));
  if (currencies.size > 1) {
    throw new DomainError('unprocessable', 'All items of an order must share one currency');
  }
  const currency = catalogue.get(ids[0] as string)?.currency ?? 'EUR';
  const lines = input.items.map((i) => ({
    orderId,
    productId: i.productId,
    quantity: i.quantity,
    unitPriceCents: catalogue.get(i.productId)?.priceCents ?? 0,
  }));
  const total = lines.reduce((sum, l) => sum + l.unitPriceCents * l.quantity, 0);
  if (!Number.isSafeInteger(total)) throw new DomainError('unprocessable', 'The order total is too large');
  const row = {
    id: orderId,
    userId: input.userId,
    status: 'pending' as const,
    totalCents: total,
    currency,
    paymentToken: input.paymentToken ?? null,
    idempotencyKey: input.idempotencyKey ?? null,
    requestHash: hash,
    createdAt: now,
    updatedAt: now,
  };
  const view: OrderView = {
    id: orderId,
    userId: input.userId,
    status: 'pending',
    items: lines
      .map(({ productId, quantity, unitPriceCents }) => ({ productId, quantity, unitPriceCents }))
      .sort((a, b) => (a.productId < b.productId ? -1 : 1)),
    totalCents: total,
    refundedCents: 0,
    currency,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    events: [{ from: null, to: 'pending', at: now.toISOString(), actor: placedBy(input) }],
  };
  return { row, lines, view };
}

function checkUnpaidUnits(input: PlaceOrderInput, limits: UnpaidLimits): void {
  const units = input.items.reduce((sum, i) => sum + i.quantity, 0);
  if (units <= limits.maxUnits) return;
  throw new DomainError(
    'unprocessable',
    `An order without payment may hold at most ${limits.maxUnits} units; this one asks for ${units}. Pay with the order, or order fewer.`,
    [{ field: 'items', message: `at most ${limits.maxUnits} units in all when the order has no payment` }],
  );
}

/**
 * Counts the user's unpaid orders under a lock on the user's row, so that concurrent placements of
 * one user take turns and the cap holds (a plain count would let every racer see the same number).
 * Returns the order a replayed Idempotency-Key already created (found under the same lock), if any.
 */
async function holdUnpaidSlot(
  tx: Tx,
  input: PlaceOrderInput,
  hash: string,
  limits: UnpaidLimits,
): Promise<string | null> {
  await tx.select({ id: users.id }).from(users).where(eq(users.id, input.userId)).for('update');
  if (input.idempotencyKey) {
    const existing = await findByKey(tx, input.userId, input.idempotencyKey, hash);
    if (existing) return existing;
  }
  const [held] = await tx
    .select({ n: count() })
    .from(orders)
    .where(
      and(
        eq(orders.userId, input.userId),
        // An order in review holds its stock (and an authorization) until an admin decides: a hold too.
        or(
          eq(orders.status, 'review'),
          and(isNull(orders.paymentToken), inArray(orders.status, ['pending', 'reserved'])),
        ),
      ),
    );
  const n = held?.n ?? 0;
  if (n >= limits.maxOrders) {
    throw new DomainError(
      'conflict',
      `You already hold ${n} unpaid orders or orders in review (at most ${limits.maxOrders}): pay for or cancel one, or send the payment with this order.`,
      [{ field: 'payment', message: `required while ${limits.maxOrders} unpaid orders are held` }],
    );
  }
  return null;
}

export async function findByKey(
  db: Db | Tx,
  userId: string,
  key: string,
  hash: string,
): Promise<string | null> {
  const [row] = await db
    .select({ id: orders.id, requestHash: orders.requestHash })
    .from(orders)
    .where(and(eq(orders.userId, userId), eq(orders.idempotencyKey, key)))
    .limit(1);
  if (!row) return null;
  if (row.requestHash !== hash) {
    throw new DomainError('unprocessable', 'This Idempotency-Key was used with a different request body');
  }
  return row.id;
}
