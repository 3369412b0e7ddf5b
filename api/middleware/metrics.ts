import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from '../../wiring/metrics';
import type { AppEnv } from '../context';

/** The label for a request no route answers (404 from the not-found handler). */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * The route pattern a request matched (`/orders/:id`), never its raw path: ids in labels would make
 * one time series per order. Middleware registered with `use` has method ALL; the first matched
 * route with a real method is the endpoint Hono dispatches to, also when a middleware (auth, rate
 * limit, body checks) answered before it ran.
 */
export function routeLabel(c: Context): string {
  let routes: ReturnType<typeof matchedRoutes>;
  try {
    routes = matchedRoutes(c);
  } catch {
    return UNMATCHED_ROUTE;
  }
  const endpoint = routes.find((r) => r.method !== 'ALL');
  if (endpoint) return endpoint.path;
  // Only catch-all middleware matched: a mounted sub-app such as Bull Board, or nothing at all.
  const last = routes.at(-1);
  return last && last.path !== '*' && last.path !== '/*' ? last.path : UNMATCHED_ROUTE;
}

/** Counts and times every request by method, route pattern and status. */
export function httpMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      metrics.observeHttp(
        { method: c.req.method, route: routeLabel(c), status: String(c.res.status) },
        (performance.now() - started) / 1000,
      );
    }
  };
}
