import { createRoute, z } from '@hono/zod-openapi';
import { createProduct, getProduct, listProducts, MAX_STOCK } from '../../domain/catalog/products';
import { appCache } from '../cache';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { requireAuth } from '../middleware/auth';
import { bearer, idParam, jsonBody, jsonResponse, PageQuery, problem, trimmedText } from '../schemas';

// A price stays far below 2^53 so that totals of up to 100 items x 1,000 units remain exact integers.
export const MAX_PRICE_CENTS = 100_000_000_00;

const NewProduct = z
  .strictObject({
    sku: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'),
    name: trimmedText(200),
    priceCents: z.number().int().min(0).max(MAX_PRICE_CENTS),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'),
    available: z.number().int().min(0).max(MAX_STOCK),
  })
  .openapi('NewProduct');

const Product = z
  .object({
    id: z.string(),
    sku: z.string(),
    name: z.string(),
    priceCents: z.number().int(),
    currency: z.string(),
  })
  .openapi('Product');

export function productRoutes(deps: AppDeps) {
  const app = newRouter();
  // Products are never edited through the API, so a cached one only expires.
  const cache = appCache(deps);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create a product',
      tags: ['catalogue'],
      security: bearer,
      middleware: [requireAuth(tokenSettings(deps), 'admin')] as const,
      request: { body: jsonBody(NewProduct) },
      responses: {
        201: jsonResponse(Product, 'The new product'),
        400: problem('Invalid fields'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
        409: problem('The sku exists'),
      },
    }),
    async (c) => c.json(await createProduct(deps.db, c.req.valid('json')), 201),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List products',
      tags: ['catalogue'],
      request: { query: PageQuery },
      responses: {
        200: jsonResponse(
          z.object({ data: z.array(Product), nextCursor: z.string().nullable() }),
          'A page of products',
        ),
        400: problem('Invalid query'),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      return c.json(await listProducts(deps.db, limit, cursor), 200);
    },
  );

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

  return app;
}
