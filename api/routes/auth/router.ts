import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TokenSettings } from '../../../domain/auth/tokens';
import type { AppEnv } from '../../context';
import type { AppDeps } from '../../deps';

/** What every `/auth` route file registers on: the router, the app's parts and the token settings. */
export interface AuthRouter {
  app: OpenAPIHono<AppEnv>;
  deps: AppDeps;
  tokens: TokenSettings;
}
