import { createRoute } from '@hono/zod-openapi';
import { deleteEndpoint } from '../../../domain/webhooks/endpoints';
import { idParam } from '../../schemas';
import { notFound, tags, type WebhookRouter } from './router';

export function deleteEndpointRoute({ app, deps }: WebhookRouter): void {
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      summary: 'Delete a webhook endpoint',
      tags,
      request: { params: idParam('id') },
      responses: { 204: { description: 'Deleted: nothing more is sent to it' }, 404: notFound },
    }),
    async (c) => {
      await deleteEndpoint(deps.db, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
