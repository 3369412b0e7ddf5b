import { createRoute } from '@hono/zod-openapi';
import { createEndpoint } from '../../../domain/webhooks/endpoints';
import { jsonBody, jsonResponse } from '../../schemas';
import { refused, tags, type WebhookRouter } from './router';
import { CreatedEndpoint, NewEndpoint } from './schemas';

export function createEndpointRoute({ app, deps, guard }: WebhookRouter): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Register a webhook endpoint',
      tags,
      request: { body: jsonBody(NewEndpoint) },
      responses: {
        201: jsonResponse(CreatedEndpoint, 'The endpoint, with its signing secret shown this once'),
        422: refused,
      },
    }),
    async (c) => c.json(await createEndpoint(deps.db, deps.config.piiKey, c.req.valid('json'), guard), 201),
  );
}
