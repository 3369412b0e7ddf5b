import { createRoute } from '@hono/zod-openapi';
import { getOrderView } from '../../../domain/orders/read';
import { isFinal } from '../../../domain/orders/status';
import { appCache } from '../../cache';
import { assertSelfOrAdmin } from '../../middleware/auth';
import { idParam, jsonResponse, problem } from '../../schemas';
import type { OrderRouter } from './router';
import { Order } from './schemas';

export function getOrderRoute({ app, deps }: OrderRouter): void {
  const cache = appCache(deps);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'Get an order with its timeline',
      tags: ['orders'],
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(Order, 'The order with its timeline'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      c.set('orderId', id);
      // Only a final order is cached: it never changes again (no move leaves a final status, every
      // write to an order is a compare-and-set on a live one), so no transition has to invalidate it;
      // a live order changes within milliseconds during its saga and is read from MySQL.
      const order = await cache.get(
        'order',
        id,
        () => getOrderView(deps.db, id),
        (o) => isFinal(o.status),
      );
      assertSelfOrAdmin(c.get('principal'), order.userId);
      return c.json(order, 200);
    },
  );
}
