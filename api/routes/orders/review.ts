import { createRoute, z } from '@hono/zod-openapi';
import { getOrderView } from '../../../domain/orders/read';
import { decideAndQueue } from '../../../wiring/review-decision';
import { actorOf } from '../../actor';
import { idParam, jsonBody, jsonResponse, problem } from '../../schemas';
import type { OrderRouter } from './router';
import { Order } from './schemas';

const ReviewBody = z.strictObject({ decision: z.enum(['approve', 'reject']) }).openapi('ReviewDecision');

export function reviewOrderRoute({ app, deps }: OrderRouter): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/review',
      tags: ['orders'],
      summary: 'Decide an order held for fraud review',
      request: { params: idParam('id'), body: jsonBody(ReviewBody) },
      responses: {
        200: jsonResponse(Order, 'The order: approved (back to reserved, its charge queued) or rejected'),
        400: problem('Invalid body'),
        401: problem('Not signed in'),
        403: problem("Not an admin (the order's owner cannot decide on it either)"),
        404: problem('No such order'),
        409: problem('The order is not in review'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { decision } = c.req.valid('json');
      c.set('orderId', id);
      await decideAndQueue(deps, id, decision, actorOf(c.get('principal')), c.get('requestId'));
      return c.json(await getOrderView(deps.db, id), 200);
    },
  );
}
