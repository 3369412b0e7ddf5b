import { createRoute, z } from '@hono/zod-openapi';
import { retryWebhookDelivery } from '../../../wiring/webhook-retry';
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
      const due = await retryWebhookDelivery(deps, c.req.valid('param').id);
      return c.json({ id: due.id, status: 'pending' as const }, 202);
    },
  );
  return app;
}
