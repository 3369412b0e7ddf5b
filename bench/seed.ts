import type { Db } from '../db/client';
import { issueTokenPair } from '../domain/auth/tokens';
import { createProduct } from '../domain/catalog/products';
import { registerUser } from '../domain/users/users';
import type { Config } from '../lib/config';

/**
 * What a benchmark places orders with: one signed-in customer (an access token valid for an hour,
 * longer than any run) and `products` products with `stock` units each. `tag` keeps the runs' skus
 * and email apart.
 */
export async function seedShop(
  db: Db,
  config: Config,
  { tag, products, stock }: { tag: string; products: number; stock: number },
): Promise<{ accessToken: string; productIds: string[] }> {
  const user = await registerUser(db, config.piiKey, {
    email: `${tag.toLowerCase()}@example.test`,
    password: `${tag.toLowerCase()}-password`,
    name: tag,
  });
  const { accessToken } = await issueTokenPair(
    db,
    { secret: config.jwtSecret, accessTtlSeconds: 3600, refreshTtlSeconds: 3600 },
    { userId: user.id, role: 'user' },
  );
  const productIds: string[] = [];
  for (let i = 0; i < products; i++) {
    const p = await createProduct(db, {
      sku: `${tag.toUpperCase()}-${i}`,
      name: `${tag} ${i}`,
      priceCents: 100 + i,
      currency: 'EUR',
      available: stock,
    });
    productIds.push(p.id);
  }
  return { accessToken, productIds };
}

/** A loopback port nothing listens on right now (the API process is started on it). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
