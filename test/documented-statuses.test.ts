import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { enforceDocumentedStatuses, UndocumentedStatusError } from './support/documented';
import { createHarness, type Harness } from './support/harness';

// The harness checks every answer of every test against the OpenAPI document (support/documented.ts);
// this file shows that check can fail, and pins the statuses a validating proxy found missing.

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.cleanup());

type Doc = {
  paths: Record<
    string,
    Record<string, { responses: Record<string, unknown>; parameters?: unknown[]; requestBody?: unknown }>
  >;
};
const doc = async () => (await (await h.app.request('/openapi.json')).json()) as Doc;
const listed = (d: Doc, method: string, path: string) =>
  Object.keys(d.paths[path]?.[method.toLowerCase()]?.responses ?? {});

describe('the harness refuses an answer its document does not list', () => {
  const tiny = () => {
    const app = new OpenAPIHono();
    app.openapi(
      createRoute({
        method: 'get',
        path: '/things/{id}',
        request: { params: z.object({ id: z.string() }) },
        responses: { 200: { description: 'A thing' } },
      }),
      (c) => (c.req.param('id') === 'tea' ? c.body(null, 418) : c.body(null, 200)),
    );
    app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 't', version: '1' } });
    enforceDocumentedStatuses(app);
    return app;
  };

  test('a listed status passes, an unlisted one fails the request naming the route', async () => {
    const app = tiny();
    expect((await app.request('/things/1')).status).toBe(200);
    const refused = app.request('/things/tea');
    await expect(refused).rejects.toThrow(UndocumentedStatusError);
    await expect(refused).rejects.toThrow('GET /things/{id} answered 418');
  });

  test('paths the document does not describe are not judged', async () => {
    expect((await tiny().request('/elsewhere')).status).toBe(404);
  });
});

describe('statuses a validating proxy (Prism) found undocumented are listed', () => {
  test.each([
    ['POST', '/auth/login', ['400', '415']],
    ['POST', '/auth/refresh', ['400']],
    ['GET', '/products/{id}', ['400']],
    ['GET', '/orders/{id}', ['400']],
  ])('%s %s lists %p', async (method, path, statuses) => {
    const d = await doc();
    expect(listed(d, method, path)).toEqual(expect.arrayContaining(statuses));
  });

  test('and the API really answers them (so the check above is about real answers)', async () => {
    const bad = { 'content-type': 'application/json' };
    expect((await h.app.request('/auth/login', { method: 'POST', headers: bad, body: '{}' })).status).toBe(
      400,
    );
    expect(
      (
        await h.app.request('/auth/login', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'x',
        })
      ).status,
    ).toBe(415);
    expect((await h.app.request('/auth/refresh', { method: 'POST', headers: bad, body: '{}' })).status).toBe(
      400,
    );
    expect((await h.app.request('/products/a.b')).status).toBe(400);
    const user = await h.signUp();
    expect((await h.json('GET', '/orders/a.b', undefined, user.token)).status).toBe(400);
  });
});

describe('statuses every route of a kind can answer', () => {
  test('every body route lists 413 and 415; every route with inputs 400; every counted route 429', async () => {
    const d = await doc();
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(d.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const has = (s: string) => {
          if (!(s in op.responses)) missing.push(`${method.toUpperCase()} ${path} ${s}`);
        };
        if (['post', 'put', 'patch'].includes(method)) for (const s of ['413', '415']) has(s);
        // Anything validated (a path, query or header parameter, or a body) can be refused.
        if (op.requestBody || (op.parameters ?? []).length > 0) has('400');
        if (!/^\/(health|metrics)/.test(path)) has('429');
        if (path !== '/health/live') has('503');
      }
    }
    expect(missing).toEqual([]);
  });
});
