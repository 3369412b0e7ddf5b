import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../context';
import type { AppDeps } from '../../deps';

/** What every `/products` route file registers on: the router and the app's parts. */
export interface ProductRouter {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
}
