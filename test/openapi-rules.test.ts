import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';

// A client generator, or a validating proxy (Prism), knows only what the OpenAPI document says. Each
// request below is refused by the app; the document must refuse it too, by its own rules: this test
// validates the requests against the document with a JSON Schema validator (ajv), honouring the
// document's two extensions (`x-additionalQueryParameters`, `x-uniqueItemProperty`), and checks that
// the app and the document agree, case by case. A valid request of each kind is the control.

let h: Harness;
let admin: { token: string };
let product: string;
let doc: OpenApiDocument;

interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: object }[];
  requestBody?: { content: Record<string, { schema: object }> };
  'x-additionalQueryParameters'?: boolean;
  description?: string;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
}

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  product = await shop(h, admin).product(100);
  doc = (await (await h.app.request('/openapi.json')).json()) as OpenApiDocument;
});
afterAll(async () => {
  await h.cleanup();
});

/** The document's own validator: its schemas, its formats, its extensions. */
function validators() {
  const make = (coerceTypes: boolean) => {
    const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes });
    addFormats(ajv);
    ajv.addKeyword({
      keyword: 'x-uniqueItemProperty',
      type: 'array',
      validate: (property: string, items: Record<string, unknown>[]) =>
        new Set(items.map((i) => i[property])).size === items.length,
    });
    // The components, under an id of their own, so an operation's `#/components/…` refs resolve.
    ajv.addSchema(rebase({ components: doc.components }), 'doc');
    return ajv;
  };
  return { body: make(false), query: make(true) };
}

/** Points the document's local refs at the `doc` schema. */
function rebase<T>(schema: T): T {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')) as T;
}

interface Request {
  method: 'get' | 'post';
  path: string;
  /** The path as sent (the document's template filled in). */
  url?: string;
  query?: Record<string, string>;
  body?: unknown;
  contentType?: string;
  token?: string;
}

/** Why the document refuses the request, or undefined when it accepts it. */
function documentRefuses(r: Request): string | undefined {
  const op = doc.paths[r.path]?.[r.method];
  if (!op) return `no ${r.method} ${r.path} in the document`;
  const v = validators();
  if (r.body !== undefined) {
    const type = (r.contentType ?? 'application/json').split(';')[0]?.trim() ?? '';
    const media = op.requestBody?.content[type];
    if (!media) return `media type ${type} not accepted`;
    const check: ValidateFunction = v.body.compile(rebase(media.schema));
    if (!check(r.body)) return v.body.errorsText(check.errors);
  }
  const params = (op.parameters ?? []).filter((p) => p.in === 'query');
  const querySchema = {
    type: 'object',
    properties: Object.fromEntries(params.map((p) => [p.name, rebase(p.schema)])),
    required: params.filter((p) => p.required).map((p) => p.name),
    additionalProperties: op['x-additionalQueryParameters'] ?? true,
  };
  const check = v.query.compile(querySchema);
  if (!check({ ...(r.query ?? {}) })) return v.query.errorsText(check.errors);
  return undefined;
}

async function appAnswer(r: Request): Promise<number> {
  const qs = r.query ? `?${new URLSearchParams(r.query)}` : '';
  const headers: Record<string, string> = {};
  if (r.token) headers.authorization = `Bearer ${r.token}`;
  if (r.body !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
  const res = await h.app.request(`${r.url ?? r.path}${qs}`, {
    method: r.method.toUpperCase(),
    headers,
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
  });
  return res.status;
}

const register = (over: Record<string, unknown>, contentType?: string): Request => ({
  method: 'post',
  path: '/auth/register',
  body: {
    email: `u${crypto.randomUUID().slice(0, 8)}@example.com`,
    password: 'correct horse battery',
    name: 'Ann',
    ...over,
  },
  ...(contentType ? { contentType } : {}),
});
const login = (email: string): Request => ({
  method: 'post',
  path: '/auth/login',
  body: { email, password: 'correct horse battery' },
});
const products = (query: Record<string, string>): Request => ({ method: 'get', path: '/products', query });

const refused: [string, () => Request][] = [
  // Each is a valid `format: email` (ajv's full check), and refused by the app's stricter rule.
  ['an email whose top-level domain has one letter', () => register({ email: 'ann@example.c' })],
  ['an email with a "!" in its local part', () => register({ email: 'ann!lee@example.com' })],
  ['a sign-in with an email the app finds invalid', () => login('ann@example.123')],
  ['a name of spaces (trimmed to nothing)', () => register({ name: '    ' })],
  ['a password of mostly blanks', () => register({ password: 'x         ' })],
  [
    "a product's name of spaces",
    () => ({
      method: 'post',
      path: '/products',
      token: admin.token,
      body: {
        sku: `S-${crypto.randomUUID().slice(0, 8)}`,
        name: '   ',
        priceCents: 100,
        currency: 'EUR',
        available: 1,
      },
    }),
  ],
  [
    'one product twice in items',
    () => ({
      method: 'post',
      path: '/orders',
      token: admin.token,
      body: {
        items: [
          { productId: product, quantity: 1 },
          { productId: product, quantity: 2 },
        ],
        payment: { token: 'tok_visa' },
      },
    }),
  ],
  ['an unknown query parameter on GET /products', () => products({ sort: 'name' })],
  ['an empty limit on GET /products', () => products({ limit: '' })],
  ['an application/vnd.api+json body', () => register({}, 'application/vnd.api+json')],
];

describe('the document refuses what the app refuses', () => {
  for (const [what, request] of refused) {
    test(what, async () => {
      const r = request();
      const status = await appAnswer(r);
      expect([400, 415]).toContain(status);
      const why = documentRefuses(r);
      expect(why).toBeDefined();
      if (status === 415) expect(why).toContain('media type');
    });
  }
});

describe('and accepts what the app accepts (the controls)', () => {
  const accepted: [string, () => Request][] = [
    ['a registration', () => register({ name: '  Ann Lee  ' })],
    ['a page of products', () => products({ limit: '5' })],
    [
      'an order of two products',
      () => ({
        method: 'post',
        path: '/orders',
        token: admin.token,
        body: { items: [{ productId: product, quantity: 1 }], payment: { token: 'tok_visa' } },
      }),
    ],
  ];
  for (const [what, request] of accepted) {
    test(what, async () => {
      const r = request();
      expect(documentRefuses(r)).toBeUndefined();
      expect(await appAnswer(r)).toBeLessThan(300);
    });
  }
});

test('the rules a schema cannot carry are in the words too', () => {
  const order = doc.components.schemas.NewOrder as { properties: { items: { description?: string } } };
  expect(order.properties.items.description ?? '').toMatch(/at most once/);
  expect(doc.paths['/products']?.get?.description ?? '').toMatch(/unknown query parameter/i);
});
