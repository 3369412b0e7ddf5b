import { createRoute } from '@hono/zod-openapi';
import { cancelOrder } from '../../../domain/orders/compensate';
import { getOrderRow, getOrderView } from '../../../domain/orders/read';
import { assertSelfOrAdmin } from '../../middleware/auth';
import { bearer, idParam, jsonResponse, problem } from '../../schemas';
import type { OrderRouter } from './router';
import { Order } from './schemas';

export function cancelOrderRoute({ app, deps, signedIn }: OrderRouter): void {
  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}/cancel',
      summary: 'Cancel an order',
      tags: ['orders'],
      security: bearer,
      middleware: [signedIn] as const,
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
      const cancelled = await cancelOrder(deps.orders, id);
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
