import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { AppEnv } from './context';
import { problem } from './schemas';

const withBody = new Set(['post', 'put', 'patch']);

/**
 * Adds to every documented route the statuses it answers through the app's own middleware and error
 * path rather than through its handler, so no route's document is silent about them:
 * - 400: a route that validates anything (path, query, headers or body) refuses what fails;
 * - 413 / 415: every POST, PUT or PATCH body passes the body limit and the JSON-only check;
 * - 429: every route the rate limiter counts;
 * - 503: MySQL or Redis unreachable, for every route that needs one (all but liveness);
 * - 500: an unexpected error, on every route (logged; the answer carries nothing internal).
 * A route's own description of one of these statuses wins. Call once every router is mounted.
 */
export function documentSharedResponses(
  app: OpenAPIHono<AppEnv>,
  opts: { rateLimited: (path: string) => boolean; needsNoBackend: (path: string) => boolean },
): void {
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const route: RouteConfig = def.route;
    const path = route.path.replace(/\{[^}]+\}/g, 'x');
    const req = route.request;
    const shared: RouteConfig['responses'] = {};
    if (req?.params || req?.query || req?.headers || req?.body || req?.cookies)
      shared[400] = problem('Invalid input: the field and the reason');
    if (withBody.has(route.method)) {
      shared[413] = problem('The body is larger than BODY_LIMIT_BYTES');
      shared[415] = problem('The body is not application/json');
    }
    if (opts.rateLimited(path)) shared[429] = problem('Rate limited; Retry-After says when to come back');
    if (!opts.needsNoBackend(path)) shared[503] = problem('MySQL or Redis is unavailable; retry shortly');
    shared[500] = problem('An unexpected error: logged, and the answer carries nothing internal');
    def.route = { ...route, responses: { ...shared, ...route.responses } };
  }
}
