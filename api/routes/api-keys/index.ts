import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { deleteApiKeyRoute } from './delete';
import { getApiKeys } from './get';
import { postApiKey } from './post';

/** `/api-keys`: admins make, list and delete keys; who may call each is in api/access.ts. */
export function apiKeyRoutes(deps: AppDeps) {
  const app = newRouter();
  postApiKey(app, deps);
  getApiKeys(app, deps);
  deleteApiKeyRoute(app, deps);
  return app;
}
