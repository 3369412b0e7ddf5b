import { and, inArray, isNotNull } from 'drizzle-orm';
import type { Db, TransactionWriter } from '../../db/client';
import { orderEvents, orderItems, orders, products } from '../../db/schema';
import { newId } from '../../lib/ids';
import { actorColumns } from '../actor';
import { DomainError } from '../errors';
import { eventsStatement, orderChanges, recordEvents } from '../outbox/write';
import type { Decided } from './group-commit';
import {
  buildOrder,
  type Placed,
  type PlaceOrderInput,
  placedBy,
  placeOrder,
  requestHash,
  type UnpaidLimits,
} from './place-one';
import type { OrderEvent, OrderEventSink } from './status';

/**
 * `placeOrder` for many requests at once (group commit on the API): one read of the catalogue, then
 * one transaction with one multi-row INSERT per table. A request the catalogue refuses (unknown
 * product, mixed currencies) gets its own 422 and stores nothing; its neighbours are stored.
 *
 * Idempotency: the keys of the batch that already exist are looked up first (one SELECT, only when
 * a request has a key), and those requests go the single way through `placeOrder`, which answers a
 * replay with the first order: a replay never fails its neighbours. The unique (user, key) index still
 * decides a race with another process (the batch then fails as a whole and its caller places the
 * requests one by one). Two requests of one batch with the same user and key are never inserted
 * together: the later ones go the single way after the batch.
 *
 * A write that fails may still have committed (the connection lost after COMMIT was sent): the
 * batch's order ids are looked up before anything is placed again. All there: the batch stands and
 * its requests are answered with their orders. None: the error is thrown (nothing was stored, placing
 * again is safe). Unknown (the lookup failed too): each request gets a 503 and nothing is placed again.
 * An order without payment also goes the single way: its per-user cap is counted under a lock on
 * the user's row, one placement at a time.
 */
export async function placeOrders(
  db: Db,
  events: OrderEventSink,
  inputs: PlaceOrderInput[],
  limits: UnpaidLimits,
  /** Runs the batch's INSERTs as one transaction in one round trip (the API's); else drizzle's transaction. */
  write?: TransactionWriter,
): Promise<Decided<Placed>[]> {
  const out: Decided<Placed>[] = new Array(inputs.length);
  const seen = new Set<string>();
  const later: number[] = [];
  const now = new Date();
  const paid = inputs.filter((i) => i.paymentToken);
  const productIds = [...new Set(paid.flatMap((i) => i.items.map((l) => l.productId)))];
  // Prices are read before the transaction, as the single path's read inside it would see them: a
  // plain read takes no locks either way.
  // Both reads at once, on two connections: a batch with keys pays no extra round trip in time.
  const [rows, known] = await Promise.all([
    productIds.length
      ? db
          .select({ id: products.id, priceCents: products.priceCents, currency: products.currency })
          .from(products)
          .where(inArray(products.id, productIds))
      : Promise.resolve([]),
    knownKeys(db, paid),
  ]);
  const catalogue = new Map(rows.map((r) => [r.id, r]));
  const built: { index: number; input: PlaceOrderInput; order: ReturnType<typeof buildOrder> }[] = [];
  inputs.forEach((input, index) => {
    if (!input.paymentToken) {
      later.push(index);
      return;
    }
    if (input.idempotencyKey) {
      const key = `${input.userId}\u0000${input.idempotencyKey}`;
      if (seen.has(key) || known.has(key)) {
        later.push(index);
        return;
      }
      seen.add(key);
    }
    try {
      built.push({
        index,
        input,
        order: buildOrder(input, requestHash(input), newId('ord'), now, catalogue),
      });
    } catch (error) {
      out[index] = { ok: false, error };
    }
  });
  if (built.length) {
    const inserts = [
      db.insert(orders).values(built.map((b) => b.order.row)),
      db.insert(orderItems).values(built.flatMap((b) => b.order.lines)),
      db.insert(orderEvents).values(
        built.map((b) => ({
          orderId: b.order.row.id,
          fromStatus: null,
          toStatus: 'pending' as const,
          at: now,
          // The same multi-row INSERT as before, two more columns: no statement added per order.
          ...actorColumns(placedBy(b.input)),
        })),
      ),
    ] as const;
    // The outbox's rows go in the same transaction, one more multi-row INSERT for the batch.
    const outbox = orderChanges(
      built.map((b) => ({
        orderId: b.order.row.id,
        to: 'pending' as const,
        at: now,
        // The request's span, which each order's trace starts from (not the placing batch's).
        traceParent: b.input.traceParent,
      })),
    );
    const stored = await (async () => {
      if (write) await write([...inserts.map((q) => q.toSQL()), eventsStatement(outbox)]);
      else {
        await db.transaction(async (tx) => {
          for (const q of inserts) await tx.execute(q.getSQL());
          await recordEvents(tx, outbox);
        });
      }
    })().then(
      () => true as const,
      (err: unknown) =>
        committedAnyway(
          db,
          built.map((b) => b.order.row.id),
          err,
        ),
    );
    if (stored !== true) {
      for (const b of built) out[b.index] = { ok: false, error: stored };
      built.length = 0;
    }
    const news: OrderEvent[] = built.map((b) => ({
      orderId: b.order.row.id,
      from: null,
      to: 'pending',
      at: now,
      actor: placedBy(b.input),
    }));
    // Not awaited (a sink swallows its own errors): the news of new orders goes out while the caller
    // adds their flows. The API's sink and its queues share one Redis connection, so the PUBLISH is
    // still sent (and, on one Redis node, run) before the flows are added and before any answer is
    // sent; the two replies come back together instead of one round trip after the other.
    if (news.length) void events.committed(news, []).catch(() => {});
    for (const b of built) {
      out[b.index] = { ok: true, value: { orderId: b.order.row.id, created: true, order: b.order.view } };
    }
  }
  for (const index of later) {
    out[index] = await placeOrder(db, events, inputs[index] as PlaceOrderInput, limits).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  }
  return out;
}

/** The (user, key) pairs among `inputs` that already name an order, as `user\0key`. */
async function knownKeys(db: Db, inputs: PlaceOrderInput[]): Promise<Set<string>> {
  const keyed = inputs.filter((i) => i.idempotencyKey);
  if (keyed.length === 0) return new Set();
  const rows = await db
    .select({ userId: orders.userId, key: orders.idempotencyKey })
    .from(orders)
    .where(
      and(
        inArray(orders.userId, [...new Set(keyed.map((i) => i.userId))]),
        inArray(orders.idempotencyKey, [...new Set(keyed.map((i) => i.idempotencyKey as string))]),
        isNotNull(orders.idempotencyKey),
      ),
    );
  return new Set(rows.map((r) => `${r.userId}\u0000${r.key}`));
}

/**
 * After a failed batch write: true when every order of the batch is stored (it committed, and only
 * the answer was lost); throws `err` when none is (safe to place again); an error to answer each
 * request with when that cannot be told.
 */
async function committedAnyway(db: Db, ids: string[], err: unknown): Promise<true | DomainError> {
  let found: number;
  try {
    const rows = await db.select({ id: orders.id }).from(orders).where(inArray(orders.id, ids));
    found = rows.length;
  } catch {
    return new DomainError(
      'unavailable',
      'The order may or may not have been stored; retry with an Idempotency-Key',
    );
  }
  if (found === ids.length) return true;
  if (found === 0) throw err;
  // One transaction commits all of its rows or none: a part means something else is wrong.
  return new DomainError(
    'unavailable',
    'The order may or may not have been stored; retry with an Idempotency-Key',
  );
}
