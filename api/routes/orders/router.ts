import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../context';
import type { AppDeps } from '../../deps';

/**
 * What every `/orders` route file registers on: the router and the app's parts. Who may call each
 * route is in api/access.ts (enforced before the route runs); ownership is checked per order.
 */
export interface OrderRouter {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
}
