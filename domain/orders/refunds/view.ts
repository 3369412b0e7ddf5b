import { asc, eq, inArray } from 'drizzle-orm';
import type { Db, Tx } from '../../../db/client';
import { type RefundStatus, refundItems, refunds } from '../../../db/schema';

/** A refund as `GET /orders/{id}/refunds` shows it. */
export interface RefundView {
  id: string;
  orderId: string;
  amountCents: number;
  items?: { productId: string; quantity: number }[];
  restocked: boolean;
  reason?: string;
  status: RefundStatus;
  failureCode?: string;
  createdAt: string;
}

type RefundRow = typeof refunds.$inferSelect;

export async function refundViews(db: Db | Tx, rows: RefundRow[]): Promise<RefundView[]> {
  if (rows.length === 0) return [];
  const lines = await db
    .select()
    .from(refundItems)
    .where(
      inArray(
        refundItems.refundId,
        rows.map((r) => r.id),
      ),
    )
    .orderBy(asc(refundItems.productId));
  return rows.map((r) => {
    const items = lines
      .filter((l) => l.refundId === r.id)
      .map((l) => ({ productId: l.productId, quantity: l.quantity }));
    return {
      id: r.id,
      orderId: r.orderId,
      amountCents: r.amountCents,
      ...(items.length ? { items } : {}),
      // Restocked once the money went back (a failed refund puts nothing back on the shelf).
      restocked: r.restock && r.status === 'succeeded',
      ...(r.reason ? { reason: r.reason } : {}),
      status: r.status,
      ...(r.failureCode ? { failureCode: r.failureCode } : {}),
      createdAt: r.createdAt.toISOString(),
    };
  });
}

export async function getRefundView(db: Db | Tx, refundId: string): Promise<RefundView | undefined> {
  const rows = await db.select().from(refunds).where(eq(refunds.id, refundId)).limit(1);
  return (await refundViews(db, rows))[0];
}

/** The order's refunds, oldest first. */
export async function listRefunds(db: Db, orderId: string): Promise<RefundView[]> {
  const rows = await db
    .select()
    .from(refunds)
    .where(eq(refunds.orderId, orderId))
    .orderBy(asc(refunds.createdAt), asc(refunds.id));
  return refundViews(db, rows);
}
