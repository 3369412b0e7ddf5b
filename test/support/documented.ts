import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env } from 'hono';

interface DocumentedRoute {
  method: string;
  template: string;
  pattern: RegExp;
  /** Path parameters in the template: fewer means more literal, which wins when two match. */
  params: number;
  statuses: Set<string>;
}

/** An answer the OpenAPI document does not list for its route: a contract a client cannot rely on. */
export class UndocumentedStatusError extends Error {
  constructor(method: string, template: string, status: number, listed: Set<string>) {
    super(
      `${method} ${template} answered ${status}, which its OpenAPI document does not list ` +
        `(listed: ${[...listed].join(', ')}). Document it in the route's responses (or in ` +
        'api/shared-responses.ts when every route of a kind answers it).',
    );
    this.name = 'UndocumentedStatusError';
  }
}

/** The document as the app generates it (not fetched: a request would count against rate limits). */
function routesOf<E extends Env>(app: OpenAPIHono<E>): DocumentedRoute[] {
  const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'check', version: '0' } }) as {
    paths?: Record<string, Record<string, { responses?: object }>>;
  };
  return Object.entries(doc.paths ?? {}).flatMap(([template, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(
        `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`,
      ),
      params: (template.match(/\{/g) ?? []).length,
      statuses: new Set(Object.keys(op.responses ?? {})),
    })),
  );
}

/**
 * Makes `app` check every answer it gives against its own OpenAPI document: a status the document
 * does not list for that route (method and path template) fails the request, and with it the test
 * that made it. Every test that goes through the harness is thereby a test of the document. Paths no
 * documented route matches (the document itself, /docs, the dashboard, unknown routes) are not checked.
 */
export function enforceDocumentedStatuses<E extends Env>(app: OpenAPIHono<E>): void {
  const fetch = app.fetch;
  let routes: DocumentedRoute[] | undefined;
  const check = (req: Request, res: Response): Response => {
    // A WebSocket upgrade Bun accepted has already switched protocols (101 on the wire); the 200
    // Hono returns for it is a placeholder that never reaches the client.
    if (res.status === 200 && req.headers.get('upgrade')?.toLowerCase() === 'websocket') return res;
    routes ??= routesOf(app);
    const path = new URL(req.url).pathname;
    const route = routes
      .filter((r) => r.method === req.method && r.pattern.test(path))
      .sort((a, b) => a.params - b.params)[0];
    if (route && !route.statuses.has(String(res.status)) && !route.statuses.has('default'))
      throw new UndocumentedStatusError(req.method, route.template, res.status, route.statuses);
    return res;
  };
  // `app.request()` (what tests call) dispatches through `this.fetch`, so this one hook sees both.
  app.fetch = (req, ...rest) => {
    const res = fetch(req, ...rest);
    return res instanceof Promise ? res.then((r) => check(req, r)) : check(req, res);
  };
}
