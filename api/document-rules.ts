import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { AppEnv } from './context';

/** True for a zod object that refuses unknown keys (`z.strictObject`, or one extended from it). */
function isStrictObject(schema: unknown): boolean {
  const def = (
    schema as { _zod?: { def?: { type?: string; catchall?: { _zod?: { def?: { type?: string } } } } } }
  )?._zod?.def;
  return def?.type === 'object' && def.catchall?._zod?.def?.type === 'never';
}

/**
 * States in the document the query rule the app enforces but OpenAPI's parameter list cannot: a
 * route whose query schema is strict refuses unknown query parameters (400). Each such operation gets
 * `x-additionalQueryParameters: false` (as `additionalProperties: false` on the query taken as one
 * object) and a sentence saying so. Call once every router is mounted.
 */
export function documentQueryRules(app: OpenAPIHono<AppEnv>): void {
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const route: RouteConfig = def.route;
    if (!isStrictObject(route.request?.query)) continue;
    const rule = 'Unknown query parameters are refused (400).';
    def.route = {
      ...route,
      description: route.description ? `${route.description} ${rule}` : rule,
      'x-additionalQueryParameters': false,
    };
  }
}
