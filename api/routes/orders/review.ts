import { createRoute, z } from '@hono/zod-openapi';
import { getOrderView } from '../../../domain/orders/read';
import { decideReview } from '../../../domain/orders/review';
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
      const actor = actorOf(c.get('principal'));
      const decided = await decideReview(deps.orders, id, decision, actor);
      deps.logger.info({ orderId: id, decision, actor }, 'review decided');
      deps.metrics?.reviewEnded(decision);
      try {
        if (decision === 'approve') await deps.queues.resumeAfterReview(id, c.get('requestId'));
        // A rejection wrote its notice with the transition (the outbox); the queue only delivers it.
        for (const message of decided.messages) await deps.queues.send(message, id);
      } catch (err) {
        // The decision is committed; the reconciler re-adds the charge of an approved order it finds idle
        // and re-sends a notice that was never queued.
        deps.logger.error(
          { err, orderId: id },
          'could not queue what follows the review; left to the reconciler',
        );
      }
      return c.json(await getOrderView(deps.db, id), 200);
    },
  );
}
