import { eq } from 'drizzle-orm';
import type { Tx } from '../../db/client';
import { orderItems } from '../../db/schema';
import type { Line } from '../inventory/stock';

export async function orderLines(tx: Tx, orderId: string): Promise<Line[]> {
  return tx
    .select({ productId: orderItems.productId, quantity: orderItems.quantity })
    .from(orderItems)
    .where(eq(orderItems.orderId, orderId));
}
