import { createRoute, z } from '@hono/zod-openapi';
import { listProducts } from '../../../domain/catalog/products';
import { jsonResponse, PageQuery, problem } from '../../schemas';
import type { ProductRouter } from './router';
import { Product } from './schemas';

export function listProductsRoute({ app, deps }: ProductRouter): void {
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
}
