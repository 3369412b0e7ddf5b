import { createRoute, z } from '@hono/zod-openapi';
import { adjustAvailable, getStock, MAX_STOCK, setAvailable } from '../../domain/catalog/products';
import { invalidate } from '../../lib/cache';
import { actorOf } from '../actor';
import { appCache } from '../cache';
import { newRouter } from '../context';
import type { AppDeps } from '../deps';
import { idParam, jsonBody, jsonResponse, problem } from '../schemas';

const Stock = z
  .object({ productId: z.string(), available: z.number().int(), reserved: z.number().int() })
  .openapi('Stock');

const StockUpdate = z
  .union([
    z.strictObject({ available: z.number().int().min(0).max(MAX_STOCK) }),
    z.strictObject({
      delta: z
        .number()
        .int()
        .min(-MAX_STOCK)
        .max(MAX_STOCK)
        .refine((d) => d !== 0, 'must not be 0'),
    }),
  ])
  .openapi('StockUpdate', { description: 'Either `available` (set) or `delta` (add; may be negative)' });

export function inventoryRoutes(deps: AppDeps) {
  const app = newRouter();
  const cache = appCache(deps);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{productId}',
      summary: "Get a product's stock",
      tags: ['inventory'],
      request: { params: idParam('productId') },
      responses: {
        200: jsonResponse(Stock, 'Stock of one product'),
        401: problem('Not signed in'),
        404: problem('No such product'),
      },
    }),
    async (c) => {
      const { productId } = c.req.valid('param');
      return c.json(await cache.get('inventory', productId, () => getStock(deps.db, productId)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{productId}/update',
      summary: "Set or adjust a product's stock",
      tags: ['inventory'],
      request: { params: idParam('productId'), body: jsonBody(StockUpdate) },
      responses: {
        200: jsonResponse(Stock, 'The stock after the change'),
        400: problem('Invalid fields'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
        404: problem('No such product'),
        409: problem('Stock would fall below zero'),
      },
    }),
    async (c) => {
      const { productId } = c.req.valid('param');
      const body = c.req.valid('json');
      const stock =
        'available' in body
          ? await setAvailable(deps.db, productId, body.available)
          : await adjustAvailable(deps.db, productId, body.delta);
      await invalidate(deps.redis, deps.config.QUEUE_PREFIX, 'inventory', [productId]);
      // No row records a stock change: its log line says who made it.
      deps.logger.info({ productId, change: body, actor: actorOf(c.get('principal')) }, 'stock changed');
      return c.json(stock, 200);
    },
  );

  return app;
}
