import { createRoute } from '@hono/zod-openapi';
import { listDeliveries } from '../../../domain/webhooks/deliveries';
import { idParam, jsonResponse } from '../../schemas';
import { notFound, tags, type WebhookRouter } from './router';
import { DeliveryPage, DeliveryQuery } from './schemas';

export function listDeliveriesRoute({ app, deps }: WebhookRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/deliveries',
      summary: "An endpoint's deliveries, newest first",
      tags,
      request: { params: idParam('id'), query: DeliveryQuery },
      responses: { 200: jsonResponse(DeliveryPage, 'A page of deliveries'), 404: notFound },
    }),
    async (c) => c.json(await listDeliveries(deps.db, c.req.valid('param').id, c.req.valid('query')), 200),
  );
}
