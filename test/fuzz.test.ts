import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';

// Random input at every route: whatever arrives, the answer is never a 5xx, and every refusal is
// problem+json. A fixed seed makes a failure reproducible; FUZZ_SEED picks another run.
const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const ROUNDS = 400;

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const strings = [
  '',
  ' ',
  'a',
  'x'.repeat(300),
  'x'.repeat(70_000),
  "' OR 1=1 --",
  '"; DROP TABLE orders; --',
  '<script>alert(1)</script>',
  '💥🔥',
  '\u0000',
  'tok_visa',
  'tok_chargeDeclined',
  'prd_01a2',
  'ord_01a2',
  '../../etc/passwd',
  '%00',
  'admin@example.com',
  '+14155550123',
];
const numbers = [
  0,
  -1,
  1,
  1.5,
  -0,
  1e308,
  -1e308,
  2 ** 53,
  2 ** 31,
  1000,
  1001,
  100,
  101,
  Number.MAX_SAFE_INTEGER,
];

function value(depth = 0): unknown {
  const kind = rand();
  if (depth > 2 || kind < 0.3) return pick(strings);
  if (kind < 0.55) return pick(numbers);
  if (kind < 0.62) return pick([true, false, null]);
  if (kind < 0.8) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
  return object(depth + 1);
}

const keys = [
  'email',
  'password',
  'name',
  'phone',
  'refreshToken',
  'sku',
  'priceCents',
  'currency',
  'available',
  'delta',
  'items',
  'productId',
  'quantity',
  'payment',
  'token',
  'orderId',
  'to',
  'subject',
  'text',
  '__proto__',
  'constructor',
  'role',
  'status',
  'unitPriceCents',
];

function object(depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[pick(keys)] = value(depth);
  // Sometimes the shape a route expects, with one field wrong.
  if (rand() < 0.3) o.items = [{ productId: pick(strings), quantity: pick(numbers) }];
  return o;
}

const routes = [
  ['POST', '/auth/register'],
  ['POST', '/auth/login'],
  ['POST', '/auth/refresh'],
  ['GET', '/auth/user/{id}'],
  ['POST', '/products'],
  ['GET', '/products'],
  ['GET', '/products/{id}'],
  ['GET', '/inventory/{id}'],
  ['PUT', '/inventory/{id}/update'],
  ['POST', '/orders'],
  ['GET', '/orders/{id}'],
  ['PUT', '/orders/{id}/cancel'],
  ['GET', '/orders/user/{id}'],
  ['POST', '/payment'],
  ['GET', '/payment/status/{id}'],
  ['POST', '/notify/email'],
  ['POST', '/notify/sms'],
  ['GET', '/notify/{id}'],
  ['GET', '/system/workers'],
] as const;

const ids = ['x', 'prd_1', 'ord_nope', '%27%20OR%201%3D1', 'a'.repeat(65), '..%2F..', '%F0%9F%92%A5', '0'];
const queries = [
  '',
  '?limit=abc',
  '?limit=-1',
  '?limit=1e3',
  '?cursor=%00',
  '?cursor=bm9wZQ',
  '?limit=2&cursor=x',
];

let h: Harness;
let tokens: string[];

beforeAll(async () => {
  h = await createHarness();
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  tokens = [admin.token, user.token, 'garbage', `${user.token}x`];
});
afterAll(() => h.cleanup());

test(`${ROUNDS} random requests (seed ${SEED}): never a 5xx, every refusal problem+json`, async () => {
  const failures: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < ROUNDS; i++) {
    const [method, template] = pick(routes);
    const path = template.replace('{id}', pick(ids)) + (method === 'GET' ? pick(queries) : '');
    const headers: Record<string, string> = {};
    if (rand() < 0.85) headers.authorization = `Bearer ${pick(tokens)}`;
    let body: string | undefined;
    if (method !== 'GET') {
      const style = rand();
      body =
        style < 0.7
          ? JSON.stringify(object())
          : style < 0.85
            ? JSON.stringify(value())
            : pick(['{', 'null', '[]', '"x"', '{"a":']);
      headers['content-type'] =
        rand() < 0.9 ? 'application/json' : pick(['text/plain', 'application/x-www-form-urlencoded']);
    }
    // Only what a client can put in a header (visible ASCII); the server judges the rest.
    if (rand() < 0.1)
      headers['idempotency-key'] = pick(strings.filter((x) => /^[\x20-\x7e]*$/.test(x))).slice(0, 300);
    const res = await h.app.request(path, { method, headers, body });
    const type = res.headers.get('content-type') ?? '';
    seen.add(res.status);
    if (res.status >= 500)
      failures.push(`${method} ${path} ${body?.slice(0, 120)} -> ${res.status} ${await res.text()}`);
    else if (res.status >= 400 && !type.includes('application/problem+json')) {
      failures.push(`${method} ${path} -> ${res.status} with ${type}`);
    }
  }
  expect(failures).toEqual([]);
  // The input reached past the edge too: some requests succeed, others are refused for many reasons.
  for (const status of [200, 400, 401, 403, 404]) expect(seen).toContain(status);
});
