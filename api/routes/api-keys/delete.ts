import { createRoute } from '@hono/zod-openapi';
import { deleteApiKey } from '../../../domain/api-keys/keys';
import { actorOf } from '../../actor';
import type { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { apiKeyRevocations } from '../../middleware/authorize';
import { idParam, problem } from '../../schemas';

const route = createRoute({
  method: 'delete',
  path: '/{id}',
  summary: 'Delete an API key',
  description: 'The key stops working at once, in every API process.',
  tags: ['api keys'],
  request: { params: idParam('id') },
  responses: {
    204: { description: 'Deleted (deleting it again answers the same)' },
    404: problem('No such key'),
  },
});

export function deleteApiKeyRoute(app: ReturnType<typeof newRouter>, deps: AppDeps) {
  const revocations = apiKeyRevocations(deps);
  app.openapi(route, async (c) => {
    const { id } = c.req.valid('param');
    const actor = actorOf(c.get('principal'));
    await deleteApiKey(deps.db, revocations, id, actor);
    deps.logger.info({ apiKeyId: id, actor }, 'API key deleted');
    return c.body(null, 204);
  });
}
