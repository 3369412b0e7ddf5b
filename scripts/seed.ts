import { createDb, createPool } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { createProduct, getStock } from '../domain/catalog/products';
import { DomainError } from '../domain/errors';
import { loadConfig } from '../lib/config';

/** A small demo catalogue; running it again leaves existing products alone. */
const catalogue = [
  { sku: 'MUG-001', name: 'Orderflow mug', priceCents: 1200, currency: 'EUR', available: 100 },
  { sku: 'TEE-001', name: 'Orderflow T-shirt', priceCents: 2500, currency: 'EUR', available: 50 },
  { sku: 'STK-001', name: 'Sticker pack', priceCents: 400, currency: 'EUR', available: 1000 },
  { sku: 'HOOD-001', name: 'Hoodie', priceCents: 5900, currency: 'EUR', available: 10 },
];

const config = loadConfig();
await migrateDatabase(config.DATABASE_URL);
const pool = createPool(config.DATABASE_URL, 2);
const db = createDb(pool);
for (const item of catalogue) {
  try {
    const product = await createProduct(db, item);
    const stock = await getStock(db, product.id);
    console.log(`${product.id}  ${item.sku.padEnd(9)} ${item.name} (${stock.available} available)`);
  } catch (err) {
    if (!(err instanceof DomainError && err.code === 'conflict')) throw err;
    console.log(`${item.sku} exists, left as it is`);
  }
}
await pool.end();
