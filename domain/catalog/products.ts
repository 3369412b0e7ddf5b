import { and, asc, eq, gt, gte, lte, sql } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { isDuplicateKey } from '../../db/errors';
import { products } from '../../db/schema';
import { newId } from '../../lib/ids';
import { type Actor, actorColumns, systemActor } from '../actor';
import { conflict, notFound } from '../errors';

/** The largest stock a product can hold (what the unsigned INT column and JSON clients both carry safely). */
export const MAX_STOCK = 1_000_000_000;

export interface Product {
  id: string;
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
}

export interface Stock {
  productId: string;
  available: number;
  reserved: number;
}

export interface NewProduct {
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
  available: number;
}

const productColumns = {
  id: products.id,
  sku: products.sku,
  name: products.name,
  priceCents: products.priceCents,
  currency: products.currency,
};

export async function createProduct(db: Db, input: NewProduct, actor: Actor = systemActor): Promise<Product> {
  const now = new Date();
  const created = actorColumns(actor);
  const row = {
    id: newId('prd'),
    ...input,
    reserved: 0,
    createdAt: now,
    updatedAt: now,
    createdByType: created.actorType,
    createdBy: created.actorId,
  };
  try {
    await db.insert(products).values(row);
  } catch (err) {
    if (isDuplicateKey(err)) throw conflict(`A product with sku "${input.sku}" already exists`);
    throw err;
  }
  return { id: row.id, sku: row.sku, name: row.name, priceCents: row.priceCents, currency: row.currency };
}

export async function getProduct(db: Db, id: string): Promise<Product> {
  const [row] = await db.select(productColumns).from(products).where(eq(products.id, id)).limit(1);
  if (!row) throw notFound('Product');
  return row;
}

/** Keyset pagination by id (time-ordered ids make this "oldest first"). */
export async function listProducts(
  db: Db,
  limit: number,
  after?: string,
): Promise<{ data: Product[]; nextCursor: string | null }> {
  const rows = await db
    .select(productColumns)
    .from(products)
    .where(after ? gt(products.id, after) : undefined)
    .orderBy(asc(products.id))
    .limit(limit + 1);
  const data = rows.slice(0, limit);
  return { data, nextCursor: rows.length > limit ? (data.at(-1)?.id ?? null) : null };
}

export async function getStock(db: Db, productId: string): Promise<Stock> {
  const [row] = await db
    .select({ productId: products.id, available: products.available, reserved: products.reserved })
    .from(products)
    .where(eq(products.id, productId))
    .limit(1);
  if (!row) throw notFound('Product');
  return row;
}

/** Sets `available` outright: one statement, so concurrent writers never interleave a read and a write. */
export async function setAvailable(db: Db, productId: string, available: number): Promise<Stock> {
  const [res] = await db
    .update(products)
    .set({ available, updatedAt: new Date() })
    .where(eq(products.id, productId));
  if (res.affectedRows !== 1) throw notFound('Product');
  return getStock(db, productId);
}

/** Adds `delta` (may be negative) in one conditional statement; refusing instead of going below zero. */
export async function adjustAvailable(db: Db, productId: string, delta: number): Promise<Stock> {
  const [res] = await db
    .update(products)
    .set({ available: sql`${products.available} + ${delta}`, updatedAt: new Date() })
    // Bounds written against the column alone: `available + delta` on an unsigned column errors when negative.
    .where(
      and(
        eq(products.id, productId),
        gte(products.available, Math.max(0, -delta)),
        lte(products.available, MAX_STOCK - Math.max(0, delta)),
      ),
    );
  if (res.affectedRows !== 1) {
    const current = await getStock(db, productId); // 404 when the product does not exist
    throw conflict(
      current.available + delta < 0
        ? 'Not enough stock: available would fall below zero'
        : `Stock would exceed the maximum of ${MAX_STOCK}`,
    );
  }
  return getStock(db, productId);
}
