import { createRoute } from '@hono/zod-openapi';
import { getProduct } from '../../../domain/catalog/products';
import { appCache } from '../../cache';
import { idParam, jsonResponse, problem } from '../../schemas';
import type { ProductRouter } from './router';
import { Product } from './schemas';

export function getProductRoute({ app, deps }: ProductRouter): void {
  // Products are never edited through the API, so a cached one only expires.
  const cache = appCache(deps);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'Get a product',
      tags: ['catalogue'],
      request: { params: idParam('id') },
      responses: { 200: jsonResponse(Product, 'One product'), 404: problem('No such product') },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      return c.json(await cache.get('product', id, () => getProduct(deps.db, id)), 200);
    },
  );
}
