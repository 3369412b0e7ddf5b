import { createRoute } from '@hono/zod-openapi';
import { cancelOrder } from '../../../domain/orders/compensate';
import { getOrderRow, getOrderView } from '../../../domain/orders/read';
import { actorOf } from '../../actor';
import { assertSelfOrAdmin } from '../../middleware/auth';
import { idParam, jsonResponse, problem } from '../../schemas';
import type { OrderRouter } from './router';
import { Order } from './schemas';

export function cancelOrderRoute({ app, deps }: OrderRouter): void {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}/cancel',
      summary: 'Cancel an order',
      tags: ['orders'],
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(Order, 'The cancelled order'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
        409: problem('The order is final'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      c.set('orderId', id);
      assertSelfOrAdmin(c.get('principal'), (await getOrderRow(deps.db, id)).userId);
      const actor = actorOf(c.get('principal'));
      const cancelled = await cancelOrder(deps.orders, id, actor);
      deps.logger.info({ orderId: id, actor }, 'order cancelled');
      if (cancelled.refund === 'owed') {
        deps.logger.warn({ orderId: id }, 'refund not confirmed by the gateway; left to the reconciler');
      }
      try {
        // The notice was written with the cancel (the outbox); the queue only delivers it.
        for (const message of cancelled.messages) await deps.queues.send(message, id);
      } catch (err) {
        deps.logger.error(
          { err, orderId: id },
          'could not queue the cancellation notice; the reconciler re-sends it',
        );
      }
      return c.json(await getOrderView(deps.db, id), 200);
    },
  );
}
