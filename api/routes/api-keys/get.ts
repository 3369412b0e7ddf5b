import { createRoute } from '@hono/zod-openapi';
import { listApiKeys } from '../../../domain/api-keys/keys';
import type { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { jsonResponse } from '../../schemas';
import { ApiKeyList } from './schemas';

const route = createRoute({
  method: 'get',
  path: '/',
  summary: 'List the API keys (never a key)',
  tags: ['api keys'],
  responses: { 200: jsonResponse(ApiKeyList, 'The live keys, newest first') },
});

export function getApiKeys(app: ReturnType<typeof newRouter>, deps: AppDeps) {
  app.openapi(route, async (c) => c.json({ data: await listApiKeys(deps.db) }, 200));
}
