import { createRoute } from '@hono/zod-openapi';
import { listOrdersOfUser } from '../../../domain/orders/read';
import { assertSelfOrAdmin } from '../../middleware/auth';
import { idParam, jsonResponse, PageQuery, problem } from '../../schemas';
import type { OrderRouter } from './router';
import { OrderPage } from './schemas';

export function listUserOrdersRoute({ app, deps }: OrderRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/user/{userId}',
      summary: "List a user's orders",
      tags: ['orders'],
      request: { params: idParam('userId'), query: PageQuery },
      responses: {
        200: jsonResponse(OrderPage, 'Newest first'),
        400: problem('Invalid query'),
        401: problem('Not signed in'),
        403: problem("Someone else's orders"),
        404: problem('No such user'),
      },
    }),
    async (c) => {
      const { userId } = c.req.valid('param');
      assertSelfOrAdmin(c.get('principal'), userId);
      const { limit, cursor } = c.req.valid('query');
      return c.json(await listOrdersOfUser(deps.db, userId, limit, cursor), 200);
    },
  );
}
