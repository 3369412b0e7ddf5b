import { createRoute } from '@hono/zod-openapi';
import { updateEndpoint } from '../../../domain/webhooks/endpoints';
import { idParam, jsonBody, jsonResponse } from '../../schemas';
import { notFound, refused, tags, type WebhookRouter } from './router';
import { Endpoint, EndpointPatch } from './schemas';

export function patchEndpointRoute({ app, deps, guard }: WebhookRouter): void {
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      summary: 'Change a webhook endpoint',
      tags,
      request: { params: idParam('id'), body: jsonBody(EndpointPatch) },
      responses: { 200: jsonResponse(Endpoint, 'The endpoint as changed'), 404: notFound, 422: refused },
    }),
    async (c) =>
      c.json(await updateEndpoint(deps.db, c.req.valid('param').id, c.req.valid('json'), guard), 200),
  );
}
