import { createRoute } from '@hono/zod-openapi';
import { getOrderRow } from '../../../domain/orders/read';
import { listRefunds } from '../../../domain/orders/refunds/view';
import type { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { assertSelfOrAdmin } from '../../middleware/auth';
import { idParam, jsonResponse, problem } from '../../schemas';
import { RefundList } from './schemas';

/** `GET /orders/{id}/refunds`: the order's owner or an admin. */
export function listRefundsRoute(app: ReturnType<typeof newRouter>, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/refunds',
      summary: "List an order's refunds",
      tags: ['orders'],
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(RefundList, 'The refunds, oldest first'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      c.set('orderId', id);
      assertSelfOrAdmin(c.get('principal'), (await getOrderRow(deps.db, id)).userId);
      return c.json({ data: await listRefunds(deps.db, id) }, 200);
    },
  );
}
