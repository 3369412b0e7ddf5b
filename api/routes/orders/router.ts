import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../context';
import type { AppDeps } from '../../deps';
import type { requireAuth } from '../../middleware/auth';

/** What every `/orders` route file registers on: the router, the app's parts and the shared guards. */
export interface OrderRouter {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
  /** Any signed-in user (ownership is checked per order). */
  signedIn: ReturnType<typeof requireAuth>;
  adminOnly: ReturnType<typeof requireAuth>;
}
