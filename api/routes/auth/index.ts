import { newRouter } from '../../context';
import { type AppDeps, tokenSettings } from '../../deps';
import { loginRoute } from './login';
import { logoutRoutes } from './logout';
import { refreshRoute } from './refresh';
import { registerRoute } from './register';
import type { AuthRouter } from './router';
import { getUserRoute } from './user';

/** The `/auth` routes, one file each (both logouts in one), registered in the order the OpenAPI document lists them. */
export function authRoutes(deps: AppDeps) {
  const app = newRouter();
  const tokens = tokenSettings(deps);
  const router: AuthRouter = { app, deps, tokens };
  registerRoute(router);
  loginRoute(router);
  refreshRoute(router);
  logoutRoutes(router);
  getUserRoute(router);
  return app;
}
