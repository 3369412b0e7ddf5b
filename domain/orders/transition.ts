import { and, eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';
import { orderEvents, orders } from '../../db/schema';
import { itemTraceParent } from '../../lib/tracing';
import { type Actor, actorColumns, systemActor } from '../actor';
import { orderChanges, recordEvents } from '../outbox/write';
import { allowedTransitions, type OrderEvent, type OrderEventSink, type OrderStatus } from './status';

/**
 * Collects the transitions of one transaction so they are published only after it commits, and
 * says who made them: every timeline row the transaction writes names this actor.
 */
export class TransitionLog {
  readonly events: OrderEvent[] = [];
  readonly products = new Set<string>();
  constructor(
    readonly tx: Tx,
    readonly actor: Actor = systemActor,
  ) {}

  /** Notes stock that this transaction moved, so cached stock reads go stale once it commits. */
  stockMoved(lines: { productId: string }[]): void {
    for (const l of lines) this.products.add(l.productId);
  }
}

/**
 * Compare-and-set on the order's status, with its timeline row in the same transaction.
 * Returns false (and changes nothing) when the order is not in one of `from` any more:
 * that is how a step that runs twice, or races a cancel, finds out.
 */
export async function transition(
  log: TransitionLog,
  orderId: string,
  from: OrderStatus,
  to: OrderStatus,
  reason?: string,
  extra: Partial<typeof orders.$inferInsert> = {},
): Promise<boolean> {
  if (!allowedTransitions[from].includes(to)) throw new Error(`illegal order transition ${from} -> ${to}`);
  const at = new Date();
  const [res] = await log.tx
    .update(orders)
    .set({
      ...extra,
      status: to,
      failureReason: reason ?? extra.failureReason ?? null,
      version: sql`${orders.version} + 1`,
      updatedAt: at,
    })
    .where(and(eq(orders.id, orderId), eq(orders.status, from)));
  if (res.affectedRows !== 1) return false;
  await log.tx.insert(orderEvents).values({
    orderId,
    fromStatus: from,
    toStatus: to,
    reason: reason ?? null,
    at,
    ...actorColumns(log.actor),
  });
  // The order's own span: its step's, even when a batch that failed as a whole decides it alone.
  await recordEvents(log.tx, orderChanges([{ orderId, to, at, traceParent: itemTraceParent(orderId) }]));
  log.events.push({ orderId, from, to, at, ...(reason ? { reason } : {}), actor: log.actor });
  return true;
}

/** Runs `fn` in a transaction, its changes made by `actor`, and publishes its transitions once committed. */
export async function withTransitions<T>(
  db: Db,
  sink: OrderEventSink,
  fn: (log: TransitionLog) => Promise<T>,
  actor: Actor = systemActor,
) {
  let log: TransitionLog | undefined;
  const result = await db.transaction(async (tx) => {
    log = new TransitionLog(tx, actor);
    return fn(log);
  });
  if (log && (log.events.length || log.products.size)) await sink.committed(log.events, [...log.products]);
  return result;
}

/** Reads the order row and locks it for the rest of the transaction (the first lock every saga step takes). */
export async function lockOrder(tx: Tx, orderId: string) {
  const [row] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update').limit(1);
  return row;
}
