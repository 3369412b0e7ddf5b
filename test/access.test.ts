import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { type RouteAccess, routeAccess } from '../api/access';
import { apiKeyScopes } from '../domain/api-keys/scopes';
import { createHarness, type Harness } from './support/harness';
import { expectJson } from './support/problems';

// Every operation the OpenAPI document lists, tried with every kind of caller. The expectations come
// from the document's own `x-orderflow-access` (which must be there and agree with api/access.ts), so
// a route added tomorrow is covered by this test the day it is documented.
setDefaultTimeout(120_000);

interface Operation {
  method: string;
  path: string;
  access: RouteAccess;
  security: Record<string, string[]>[];
}

let h: Harness;
let ops: Operation[];
let admin: { id: string; token: string };
let user: { id: string; token: string };
/** One key per scope, holding only that scope; and one holding every scope. */
const keyWith = new Map<string, string>();
let allScopes: string;

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  const doc = (await (await h.app.request('/openapi.json')).json()) as {
    paths: Record<
      string,
      Record<string, { 'x-orderflow-access'?: RouteAccess; security?: Operation['security'] }>
    >;
  };
  ops = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      access: op['x-orderflow-access'] as RouteAccess,
      security: op.security ?? [],
    })),
  );
  const make = async (scopes: string[]) =>
    (
      await expectJson<{ key: string }>(
        await h.json('POST', '/api-keys', { name: scopes.join(' '), scopes }, admin.token),
        201,
      )
    ).key;
  for (const scope of apiKeyScopes) keyWith.set(scope, await make([scope]));
  allScopes = await make([...apiKeyScopes]);
});
afterAll(() => h?.cleanup());

/** A request to the operation with made-up path parameters and an empty JSON body where it takes one. */
async function call(op: Operation, token?: string): Promise<{ status: number; detail: string }> {
  const path = op.path.replace(/\{[^}]+\}/g, 'zz_unknown');
  const withBody = ['POST', 'PUT', 'PATCH'].includes(op.method);
  const res = await h.json(op.method, path, withBody ? {} : undefined, token);
  const text = await res.text();
  let detail = '';
  try {
    detail = (JSON.parse(text) as { detail?: string }).detail ?? '';
  } catch {
    // Not JSON (a stream, the metrics text): no detail to read.
  }
  return { status: res.status, detail };
}

const name = (op: Operation) => `${op.method} ${op.path}`;
const guarded = () => ops.filter((op) => op.access.people !== 'anyone');
/** Ending the caller's sessions would spoil the rest of the table: those go last. */
const endsSessions = (op: Operation) => op.path === '/auth/logout-all';
const inOrder = (list: Operation[]) => [
  ...list.filter((o) => !endsSessions(o)),
  ...list.filter(endsSessions),
];

describe('the document says who may call every route', () => {
  test('every operation declares its access, as api/access.ts has it, with matching security', () => {
    expect(ops.length).toBeGreaterThan(25);
    const undeclared = ops.filter((op) => !op.access).map(name);
    expect(undeclared).toEqual([]);
    for (const op of ops) {
      const declared: unknown = op.access;
      expect({ op: name(op), access: declared }).toEqual({ op: name(op), access: routeAccess[name(op)] });
      const schemes = op.security.flatMap((s) => Object.entries(s));
      const expected: [string, string[]][] = [];
      if (op.access.people !== 'anyone') expected.push(['bearer', []]);
      if (op.access.scope) expected.push(['apiKey', [op.access.scope]]);
      expect({ op: name(op), schemes }).toEqual({ op: name(op), schemes: expected });
    }
  });

  test('the document defines both schemes: the JWT bearer and the of_ API key', async () => {
    const doc = (await (await h.app.request('/openapi.json')).json()) as {
      components: { securitySchemes: Record<string, { type: string; scheme: string; bearerFormat: string }> };
    };
    expect(doc.components.securitySchemes.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.apiKey?.bearerFormat).toContain('of_');
  });
});

describe('every guarded route, tried as every caller', () => {
  test('no credential: 401', async () => {
    const wrong: string[] = [];
    for (const op of guarded()) {
      const { status } = await call(op);
      if (status !== 401) wrong.push(`${name(op)} → ${status}`);
    }
    expect(wrong).toEqual([]);
  });

  test('a key with one scope: let through only where the route names that scope, else 403 naming it', async () => {
    const wrong: string[] = [];
    for (const op of inOrder(guarded())) {
      for (const scope of apiKeyScopes) {
        const { status, detail } = await call(op, keyWith.get(scope));
        const allowed = op.access.scope === scope;
        if (allowed && (status === 401 || status === 403))
          wrong.push(`${name(op)} [${scope}] refused: ${status} ${detail}`);
        if (!allowed) {
          const named = op.access.scope ? detail.includes(op.access.scope) : /API key cannot/.test(detail);
          if (status !== 403 || !named) wrong.push(`${name(op)} [${scope}] → ${status} ${detail}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test('a key with every scope is still refused where no scope admits a key (the JWT-only routes)', async () => {
    const jwtOnly = guarded().filter((op) => !op.access.scope);
    expect(jwtOnly.map(name)).toEqual(
      expect.arrayContaining(['POST /auth/logout-all', 'POST /orders', 'POST /payment', 'POST /api-keys']),
    );
    const wrong: string[] = [];
    for (const op of inOrder(jwtOnly)) {
      const { status, detail } = await call(op, allScopes);
      if (status !== 403 || !/API key cannot/.test(detail)) wrong.push(`${name(op)} → ${status} ${detail}`);
    }
    expect(wrong).toEqual([]);
  });

  test("a user: 403 on the admin routes; let through elsewhere (an owner's route may still refuse another's resource)", async () => {
    const wrong: string[] = [];
    for (const op of inOrder(guarded())) {
      const { status, detail } = await call(op, user.token);
      if (op.access.people === 'admin') {
        if (status !== 403 || !detail.includes('admin')) wrong.push(`${name(op)} → ${status} ${detail}`);
      } else if (status === 401 || (status === 403 && op.access.people !== 'owner')) {
        wrong.push(`${name(op)} → ${status} ${detail}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('an admin: let through everywhere', async () => {
    const wrong: string[] = [];
    for (const op of inOrder(guarded())) {
      const { status, detail } = await call(op, admin.token);
      if (status === 401 || status === 403) wrong.push(`${name(op)} → ${status} ${detail}`);
    }
    expect(wrong).toEqual([]);
  });

  test('no route is for API keys alone, so no JWT is refused for being one', () => {
    // If one is ever added (people without a person), this test must grow a case for a JWT on it.
    expect(ops.filter((op) => op.access.scope && !op.security.some((s) => 'bearer' in s)).map(name)).toEqual(
      [],
    );
  });
});
