import { createRoute } from '@hono/zod-openapi';
import { endpointView, getEndpointRow } from '../../../domain/webhooks/endpoints';
import { idParam, jsonResponse } from '../../schemas';
import { notFound, tags, type WebhookRouter } from './router';
import { Endpoint } from './schemas';

export function getEndpointRoute({ app, deps }: WebhookRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'Get a webhook endpoint',
      tags,
      request: { params: idParam('id') },
      responses: { 200: jsonResponse(Endpoint, 'The endpoint, without its secret'), 404: notFound },
    }),
    async (c) => c.json(endpointView(await getEndpointRow(deps.db, c.req.valid('param').id)), 200),
  );
}
