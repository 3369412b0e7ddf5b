import { inArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { products } from '../../db/schema';

/** Product names and SKUs by id (an order's lines show what was bought), in one read. */
export async function productNames(
  db: Db,
  ids: string[],
): Promise<Map<string, { name: string; sku: string }>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .select({ id: products.id, name: products.name, sku: products.sku })
    .from(products)
    .where(inArray(products.id, unique));
  return new Map(rows.map((r) => [r.id, { name: r.name, sku: r.sku }]));
}
