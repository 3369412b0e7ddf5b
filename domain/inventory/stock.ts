import { and, eq, gte, sql } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { products } from '../../db/schema';

export interface Line {
  productId: string;
  quantity: number;
}

// Rows are always locked in product-id order, after the order row: two transactions that touch the
// same products take their locks in the same sequence, so they can wait but never deadlock.
const inLockOrder = (lines: Line[]) => [...lines].sort((a, b) => (a.productId < b.productId ? -1 : 1));

/** Moves units from available to reserved; returns the first product that lacks stock (nothing held then). */
export async function holdStock(tx: Tx, lines: Line[]): Promise<string | null> {
  for (const line of inLockOrder(lines)) {
    const [res] = await tx
      .update(products)
      .set({
        available: sql`${products.available} - ${line.quantity}`,
        reserved: sql`${products.reserved} + ${line.quantity}`,
        updatedAt: new Date(),
      })
      .where(and(eq(products.id, line.productId), gte(products.available, line.quantity)));
    if (res.affectedRows !== 1) return line.productId;
  }
  return null;
}

/**
 * Gives held units back to available. (Completing an order takes its held units off the books in
 * the notify batch, domain/orders/complete.ts, for one order as for many.)
 */
export async function releaseStock(tx: Tx, lines: Line[]): Promise<void> {
  for (const line of inLockOrder(lines)) {
    const [res] = await tx
      .update(products)
      .set({
        reserved: sql`${products.reserved} - ${line.quantity}`,
        available: sql`${products.available} + ${line.quantity}`,
        updatedAt: new Date(),
      })
      .where(and(eq(products.id, line.productId), gte(products.reserved, line.quantity)));
    // Held stock that is not there means the books are wrong: refuse to commit rather than hide it.
    if (res.affectedRows !== 1)
      throw new Error(`reserved stock of ${line.productId} is below ${line.quantity}`);
  }
}
