import { createRoute } from '@hono/zod-openapi';
import { listOrdersByStatus } from '../../../domain/orders/read';
import { jsonResponse, PageQuery, problem } from '../../schemas';
import type { OrderRouter } from './router';
import { OrderPage, Status } from './schemas';

const StatusQuery = PageQuery.extend({ status: Status });

export function listOrdersRoute({ app, deps }: OrderRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['orders'],
      summary: 'List orders in one status',
      request: { query: StatusQuery },
      responses: {
        200: jsonResponse(OrderPage, 'Newest first'),
        400: problem('Invalid query'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
      },
    }),
    async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      return c.json(await listOrdersByStatus(deps.db, status, limit, cursor), 200);
    },
  );
}
