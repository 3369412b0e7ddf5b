import { createRoute, z } from '@hono/zod-openapi';
import { createProduct, MAX_STOCK } from '../../../domain/catalog/products';
import { actorOf } from '../../actor';
import { jsonBody, jsonResponse, problem, trimmedText } from '../../schemas';
import type { ProductRouter } from './router';
import { MAX_PRICE_CENTS, Product } from './schemas';

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

export function createProductRoute({ app, deps }: ProductRouter): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Create a product',
      tags: ['catalogue'],
      request: { body: jsonBody(NewProduct) },
      responses: {
        201: jsonResponse(Product, 'The new product'),
        400: problem('Invalid fields'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
        409: problem('The sku exists'),
      },
    }),
    async (c) => {
      const actor = actorOf(c.get('principal'));
      const product = await createProduct(deps.db, c.req.valid('json'), actor);
      deps.logger.info({ productId: product.id, actor }, 'product created');
      return c.json(product, 201);
    },
  );
}
