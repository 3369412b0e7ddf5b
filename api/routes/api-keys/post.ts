import { createRoute } from '@hono/zod-openapi';
import { createApiKey } from '../../../domain/api-keys/keys';
import { apiKeyPepper } from '../../../domain/api-keys/secrets';
import { actorOf } from '../../actor';
import type { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { jsonBody, jsonResponse, problem } from '../../schemas';
import { CreatedApiKey, NewApiKey } from './schemas';

const route = createRoute({
  method: 'post',
  path: '/',
  summary: 'Create an API key',
  tags: ['api keys'],
  request: { body: jsonBody(NewApiKey) },
  responses: {
    201: jsonResponse(CreatedApiKey, 'The key, shown this once'),
    400: problem('Invalid body: an empty name, no scope or an unknown one'),
  },
});

export function postApiKey(app: ReturnType<typeof newRouter>, deps: AppDeps) {
  const pepper = apiKeyPepper(deps.config.piiKey);
  app.openapi(route, async (c) => {
    const actor = actorOf(c.get('principal'));
    const created = await createApiKey(deps.db, pepper, c.req.valid('json'), actor);
    deps.logger.info({ apiKeyId: created.id, scopes: created.scopes, actor }, 'API key created');
    return c.json(created, 201);
  });
}
