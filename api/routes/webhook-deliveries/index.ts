import { createRoute, z } from '@hono/zod-openapi';
import { retryDelivery } from '../../../domain/webhooks/deliveries';
import { queueWebhookAttempts } from '../../../queues/webhooks';
import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { idParam, jsonResponse, problem } from '../../schemas';

const Accepted = z.object({ id: z.string(), status: z.literal('pending') }).openapi('WebhookRetryAccepted');

/** `POST /webhook-deliveries/{id}/retry`: send that event to that endpoint again now. */
export function webhookDeliveryRoutes(deps: AppDeps) {
  const app = newRouter();
  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/retry',
      summary: 'Send a delivery again now',
      tags: ['webhooks'],
      request: { params: idParam('id') },
      responses: {
        202: jsonResponse(Accepted, 'Queued: it is sent again shortly'),
        404: problem('No such delivery'),
        409: problem('Its endpoint is disabled'),
      },
    }),
    async (c) => {
      const due = await retryDelivery(deps.db, c.req.valid('param').id);
      try {
        await queueWebhookAttempts(deps.queues.queues.webhooks, [{ ...due, manual: true }]);
      } catch (err) {
        // Due now in MySQL: the dispatcher's next pass queues it once Redis answers.
        deps.logger.error({ err, deliveryId: due.id }, 'could not queue the retry; left to the dispatcher');
      }
      return c.json({ id: due.id, status: 'pending' as const }, 202);
    },
  );
  return app;
}
