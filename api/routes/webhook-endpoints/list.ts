import { createRoute } from '@hono/zod-openapi';
import { listEndpoints } from '../../../domain/webhooks/endpoints';
import { jsonResponse } from '../../schemas';
import { tags, type WebhookRouter } from './router';
import { EndpointList } from './schemas';

export function listEndpointsRoute({ app, deps }: WebhookRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'List webhook endpoints',
      tags,
      responses: { 200: jsonResponse(EndpointList, 'Every endpoint, newest first, without secrets') },
    }),
    async (c) => c.json({ data: await listEndpoints(deps.db) }, 200),
  );
}
