import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';

/** One malformed request and the answer it must get. */
interface Case {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path, given the id of an existing product. */
  path: string | ((productId: string) => string);
  /** A value sent as JSON, or `{ raw }` sent byte for byte. */
  body?: unknown;
  raw?: string;
  contentType?: string;
  as?: 'admin' | 'user';
  status: 400 | 404 | 413 | 415;
  /** For validation answers: the fields `errors[]` must name. */
  fields?: string[];
}

// Password hashing and the concurrency burst run slow on a loaded 2-core machine; bun's default is 5 s.
setDefaultTimeout(30_000);

let h: Harness;
let admin: { token: string };
let user: { id: string; token: string };
let productId: string;

const validProduct = { sku: 'BAD-INPUT-1', name: 'Mug', priceCents: 1200, currency: 'EUR', available: 10 };
const validUser = { email: 'new.user@example.test', password: 'a long enough passphrase', name: 'New' };
const long = (n: number) => 'x'.repeat(n);
const stock = (id: string) => `/inventory/${id}/update`;
// The body limit is config (BODY_LIMIT_BYTES, 64 KiB unless set); a body one byte over it.
const oversized = () => JSON.stringify({ ...validProduct, name: long(h.config.BODY_LIMIT_BYTES) });

const cases: Case[] = [
  // Registration: types, lengths, patterns, unknown fields.
  {
    name: 'register: email is a number',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, email: 42 },
    status: 400,
    fields: ['email'],
  },
  {
    name: 'register: email is not an address',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, email: 'not-an-email' },
    status: 400,
    fields: ['email'],
  },
  {
    name: 'register: SQL in the email',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, email: "' OR 1=1; --" },
    status: 400,
    fields: ['email'],
  },
  {
    name: 'register: 10,000-character name',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, name: long(10_000) },
    status: 400,
    fields: ['name'],
  },
  {
    name: 'register: blank name',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, name: '    ' },
    status: 400,
    fields: ['name'],
  },
  {
    name: 'register: password is an array',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, password: ['a long enough passphrase'] },
    status: 400,
    fields: ['password'],
  },
  {
    name: 'register: 129-character password',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, password: long(129) },
    status: 400,
    fields: ['password'],
  },
  {
    name: 'register: SQL in the phone',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, phone: "'; DROP TABLE users; --" },
    status: 400,
    fields: ['phone'],
  },
  {
    name: 'register: phone without country code',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, phone: '0415 555 0123' },
    status: 400,
    fields: ['phone'],
  },
  {
    name: 'register: unknown field role',
    method: 'POST',
    path: '/auth/register',
    body: { ...validUser, role: 'admin' },
    status: 400,
    fields: ['role'],
  },
  {
    name: 'register: body is JSON null',
    method: 'POST',
    path: '/auth/register',
    raw: 'null',
    status: 400,
    fields: ['(body)'],
  },
  {
    name: 'register: malformed JSON',
    method: 'POST',
    path: '/auth/register',
    raw: '{"email": "a@b.co", "password":',
    status: 400,
  },
  {
    name: 'register: text/plain body',
    method: 'POST',
    path: '/auth/register',
    raw: 'email=a@b.co',
    contentType: 'text/plain',
    status: 415,
  },
  {
    name: 'register: form-encoded body',
    method: 'POST',
    path: '/auth/register',
    raw: 'email=a%40b.co&password=x',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
  },
  {
    name: 'register: body over the size limit',
    method: 'POST',
    path: '/auth/register',
    raw: 'OVERSIZED',
    status: 413,
  },
  // Login and refresh.
  {
    name: 'login: empty object',
    method: 'POST',
    path: '/auth/login',
    body: {},
    status: 400,
    fields: ['email', 'password'],
  },
  { name: 'login: empty body', method: 'POST', path: '/auth/login', raw: '', status: 400 },
  {
    name: 'login: __proto__ smuggled in',
    method: 'POST',
    path: '/auth/login',
    raw: '{"__proto__":{"role":"admin"},"email":"a@b.co","password":"x"}',
    status: 400,
    fields: ['__proto__'],
  },
  {
    name: 'refresh: token is a number',
    method: 'POST',
    path: '/auth/refresh',
    body: { refreshToken: 12345 },
    status: 400,
    fields: ['refreshToken'],
  },
  {
    name: 'refresh: 201-character token',
    method: 'POST',
    path: '/auth/refresh',
    body: { refreshToken: long(201) },
    status: 400,
    fields: ['refreshToken'],
  },
  {
    name: 'user: markup as the id',
    method: 'GET',
    path: `/auth/user/${encodeURIComponent('<script>')}`,
    as: 'user',
    status: 400,
    fields: ['id'],
  },
  // Product creation (as an admin, so only the input is wrong).
  {
    name: 'product: negative price',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, priceCents: -1 },
    as: 'admin',
    status: 400,
    fields: ['priceCents'],
  },
  {
    name: 'product: fractional price',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, priceCents: 9.99 },
    as: 'admin',
    status: 400,
    fields: ['priceCents'],
  },
  {
    name: 'product: huge price',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, priceCents: 1e20 },
    as: 'admin',
    status: 400,
    fields: ['priceCents'],
  },
  {
    name: 'product: price as a string',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, priceCents: '1200' },
    as: 'admin',
    status: 400,
    fields: ['priceCents'],
  },
  {
    name: 'product: negative stock',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, available: -5 },
    as: 'admin',
    status: 400,
    fields: ['available'],
  },
  {
    name: 'product: stock beyond the column',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, available: 2 ** 32 },
    as: 'admin',
    status: 400,
    fields: ['available'],
  },
  {
    name: 'product: SQL in the sku',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, sku: "x'; DROP TABLE products;--" },
    as: 'admin',
    status: 400,
    fields: ['sku'],
  },
  {
    name: 'product: 65-character sku',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, sku: long(65) },
    as: 'admin',
    status: 400,
    fields: ['sku'],
  },
  {
    name: 'product: lower-case currency',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, currency: 'eur' },
    as: 'admin',
    status: 400,
    fields: ['currency'],
  },
  {
    name: 'product: SQL in the currency',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, currency: "EUR'--" },
    as: 'admin',
    status: 400,
    fields: ['currency'],
  },
  {
    name: 'product: 201-character name',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, name: long(201) },
    as: 'admin',
    status: 400,
    fields: ['name'],
  },
  {
    name: 'product: name is an object',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, name: { en: 'Mug' } },
    as: 'admin',
    status: 400,
    fields: ['name'],
  },
  {
    name: 'product: unknown field reserved',
    method: 'POST',
    path: '/products',
    body: { ...validProduct, reserved: 5 },
    as: 'admin',
    status: 400,
    fields: ['reserved'],
  },
  {
    name: 'product: body is an array',
    method: 'POST',
    path: '/products',
    body: [validProduct],
    as: 'admin',
    status: 400,
    fields: ['(body)'],
  },
  { name: 'product: empty JSON body', method: 'POST', path: '/products', raw: '', as: 'admin', status: 400 },
  {
    name: 'product: JSON sent as text/plain',
    method: 'POST',
    path: '/products',
    raw: JSON.stringify(validProduct),
    contentType: 'text/plain',
    as: 'admin',
    status: 415,
  },
  {
    name: 'product: body over the size limit',
    method: 'POST',
    path: '/products',
    raw: 'OVERSIZED',
    as: 'admin',
    status: 413,
  },
  // Product reads: query and path parameters.
  { name: 'list: limit=1000', method: 'GET', path: '/products?limit=1000', status: 400, fields: ['limit'] },
  { name: 'list: limit=abc', method: 'GET', path: '/products?limit=abc', status: 400, fields: ['limit'] },
  { name: 'list: limit=0', method: 'GET', path: '/products?limit=0', status: 400, fields: ['limit'] },
  { name: 'list: limit=-5', method: 'GET', path: '/products?limit=-5', status: 400, fields: ['limit'] },
  { name: 'list: limit=2.5', method: 'GET', path: '/products?limit=2.5', status: 400, fields: ['limit'] },
  {
    name: 'list: 201-character cursor',
    method: 'GET',
    path: `/products?cursor=${long(201)}`,
    status: 400,
    fields: ['cursor'],
  },
  {
    name: 'list: unknown query parameter',
    method: 'GET',
    path: '/products?sort=price',
    status: 400,
    fields: ['sort'],
  },
  {
    name: 'product: SQL as the id',
    method: 'GET',
    path: `/products/${encodeURIComponent("1' OR '1'='1")}`,
    status: 400,
    fields: ['id'],
  },
  {
    name: 'product: 65-character id',
    method: 'GET',
    path: `/products/${long(65)}`,
    status: 400,
    fields: ['id'],
  },
  {
    name: 'product: path traversal as the id',
    method: 'GET',
    path: '/products/..%2F..%2Fetc%2Fpasswd',
    status: 400,
    fields: ['id'],
  },
  {
    name: 'product: DELETE is no route',
    method: 'DELETE',
    path: (id) => `/products/${id}`,
    as: 'admin',
    status: 404,
  },
  // Inventory.
  {
    name: 'stock: SQL as the id',
    method: 'GET',
    path: `/inventory/${encodeURIComponent('x; DROP TABLE products')}`,
    as: 'user',
    status: 400,
    fields: ['productId'],
  },
  {
    name: 'stock update: negative available',
    method: 'PUT',
    path: stock,
    body: { available: -1 },
    as: 'admin',
    status: 400,
    fields: ['available'],
  },
  {
    name: 'stock update: fractional available',
    method: 'PUT',
    path: stock,
    body: { available: 1.5 },
    as: 'admin',
    status: 400,
    fields: ['available'],
  },
  {
    name: 'stock update: huge available',
    method: 'PUT',
    path: stock,
    body: { available: 1e12 },
    as: 'admin',
    status: 400,
    fields: ['available'],
  },
  {
    name: 'stock update: fractional delta',
    method: 'PUT',
    path: stock,
    body: { delta: 0.5 },
    as: 'admin',
    status: 400,
    fields: ['delta'],
  },
  {
    name: 'stock update: zero delta',
    method: 'PUT',
    path: stock,
    body: { delta: 0 },
    as: 'admin',
    status: 400,
    fields: ['delta'],
  },
  {
    name: 'stock update: delta as a string',
    method: 'PUT',
    path: stock,
    body: { delta: '-5' },
    as: 'admin',
    status: 400,
    fields: ['delta'],
  },
  {
    name: 'stock update: delta overflows to Infinity',
    method: 'PUT',
    path: stock,
    raw: '{"delta": -1e400}',
    as: 'admin',
    status: 400,
    fields: ['delta'],
  },
  {
    name: 'stock update: huge negative delta',
    method: 'PUT',
    path: stock,
    body: { delta: -1e15 },
    as: 'admin',
    status: 400,
    fields: ['delta'],
  },
  {
    name: 'stock update: both available and delta',
    method: 'PUT',
    path: stock,
    body: { available: 1, delta: 1 },
    as: 'admin',
    status: 400,
    fields: ['available', 'delta'],
  },
  {
    name: 'stock update: neither available nor delta',
    method: 'PUT',
    path: stock,
    body: {},
    as: 'admin',
    status: 400,
    fields: ['available', 'delta'],
  },
  {
    name: 'stock update: unknown field',
    method: 'PUT',
    path: stock,
    body: { available: 1, reason: 'audit' },
    as: 'admin',
    status: 400,
    fields: ['reason'],
  },
  {
    name: 'stock update: invalid id',
    method: 'PUT',
    path: `/inventory/${encodeURIComponent('prd_1 OR 1=1')}/update`,
    body: { available: 1 },
    as: 'admin',
    status: 400,
    fields: ['productId'],
  },
  {
    name: 'stock update: malformed JSON',
    method: 'PUT',
    path: stock,
    raw: '{"available": 0',
    as: 'admin',
    status: 400,
  },
  {
    name: 'stock update: text/plain body',
    method: 'PUT',
    path: stock,
    raw: '{"available":0}',
    contentType: 'text/plain',
    as: 'admin',
    status: 415,
  },
  {
    name: 'stock update: body over the size limit',
    method: 'PUT',
    path: stock,
    raw: 'OVERSIZED',
    as: 'admin',
    status: 413,
  },
  // Orders, payments and messages: a refused request stores no order, payment or message and queues
  // no job (the snapshot below counts them all).
  {
    name: 'order: item with a SQL product id',
    method: 'POST',
    path: '/orders',
    body: { items: [{ productId: "x' OR 1=1 --", quantity: 1 }] },
    as: 'user',
    status: 400,
    fields: ['items.0.productId'],
  },
  {
    name: 'order: quantity as a string',
    method: 'POST',
    path: '/orders',
    body: { items: [{ productId: 'prd_x', quantity: '2' }] },
    as: 'user',
    status: 400,
    fields: ['items.0.quantity'],
  },
  {
    name: 'order: malformed JSON',
    method: 'POST',
    path: '/orders',
    raw: '{"items": [',
    as: 'user',
    status: 400,
  },
  {
    name: 'order: text/plain body',
    method: 'POST',
    path: '/orders',
    raw: 'items=1',
    contentType: 'text/plain',
    as: 'user',
    status: 415,
  },
  {
    name: 'order: body over the size limit',
    method: 'POST',
    path: '/orders',
    raw: 'OVERSIZED',
    as: 'user',
    status: 413,
  },
  { name: 'order: markup as the id', method: 'GET', path: '/orders/%3Cscript%3E', as: 'user', status: 400 },
  {
    name: 'cancel: SQL as the id',
    method: 'PUT',
    path: "/orders/1'%20OR%201=1/cancel",
    as: 'user',
    status: 400,
  },
  {
    name: 'cancel: a text/plain body',
    method: 'PUT',
    path: '/orders/ord_x/cancel',
    raw: 'please',
    contentType: 'text/plain',
    as: 'user',
    status: 415,
  },
  {
    name: "user's orders: limit=abc",
    method: 'GET',
    path: '/orders/user/usr_x?limit=abc',
    as: 'admin',
    status: 400,
    fields: ['limit'],
  },
  {
    name: 'payment: card number instead of a token',
    method: 'POST',
    path: '/payment',
    body: { orderId: 'ord_x', token: '4242424242424242' },
    as: 'user',
    status: 400,
    fields: ['token'],
  },
  {
    name: 'payment: order id is a number',
    method: 'POST',
    path: '/payment',
    body: { orderId: 42, token: 'tok_visa' },
    as: 'user',
    status: 400,
    fields: ['orderId'],
  },
  {
    name: 'payment status: 65-character id',
    method: 'GET',
    path: `/payment/status/${'a'.repeat(65)}`,
    as: 'user',
    status: 400,
  },
  {
    name: 'email: recipient is not an address',
    method: 'POST',
    path: '/notify/email',
    body: { to: 'nobody', subject: 'Hi', text: 'Hello' },
    as: 'admin',
    status: 400,
    fields: ['to'],
  },
  {
    name: 'sms: number without a country code',
    method: 'POST',
    path: '/notify/sms',
    body: { to: '0151 234', text: 'Hello' },
    as: 'admin',
    status: 400,
    fields: ['to'],
  },
  { name: 'message: markup as the id', method: 'GET', path: '/notify/<x>', as: 'admin', status: 400 },
];

type RequestSpec = Pick<Case, 'method' | 'path' | 'body' | 'raw' | 'contentType' | 'as'>;

async function send(c: RequestSpec): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = c.as === 'admin' ? admin.token : c.as === 'user' ? user.token : undefined;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (c.raw !== undefined) body = c.raw === 'OVERSIZED' ? oversized() : c.raw;
  else if (c.body !== undefined) body = JSON.stringify(c.body);
  if (body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
  const path = typeof c.path === 'function' ? c.path(productId) : c.path;
  return h.app.request(path, { method: c.method, headers, body });
}

interface Snapshot {
  users: number;
  products: number;
  refreshTokens: number;
  orders: number;
  payments: number;
  notifications: number;
  /** Jobs in every queue, by state: a refused request queues nothing. */
  jobs: Record<string, Record<string, number>>;
  rows: unknown[];
}

async function snapshot(): Promise<Snapshot> {
  const count = async (table: string) => {
    const [rows] = await h.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
    return Number(rows[0]?.n);
  };
  const [rows] = await h.pool.query<RowDataPacket[]>(
    'SELECT id, sku, name, price_cents, currency, available, reserved, updated_at FROM products ORDER BY id',
  );
  const jobs: Snapshot['jobs'] = {};
  for (const [name, queue] of Object.entries(h.deps.queues.queues)) jobs[name] = await queue.getJobCounts();
  return {
    users: await count('users'),
    products: await count('products'),
    refreshTokens: await count('refresh_tokens'),
    orders: await count('orders'),
    payments: await count('payments'),
    notifications: await count('notifications'),
    jobs,
    rows: rows.map((r) => ({ ...r })),
  };
}

let before: Snapshot;

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  const created = await expectJson<{ id: string }>(
    await h.json('POST', '/products', validProduct, admin.token),
    201,
  );
  productId = created.id;
});

afterAll(async () => {
  await h?.cleanup();
});

describe('malformed requests are refused with a problem', () => {
  test('the table is broad enough', () => {
    expect(cases.length).toBeGreaterThanOrEqual(24);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const status of [400, 404, 413, 415]) expect(cases.some((c) => c.status === status)).toBe(true);
  });

  test('a well-formed request of each shape succeeds (the control)', async () => {
    // Sent through the same `send` with content that changes nothing lasting.
    await expectJson(await send({ method: 'GET', path: '/products?limit=5' }), 200);
    await expectJson(await send({ method: 'PUT', path: stock, body: { available: 10 }, as: 'admin' }), 200);
    await expectJson(await send({ method: 'GET', path: (id) => `/inventory/${id}`, as: 'user' }), 200);
    // A body just under the limit is parsed (and then refused for its content, not its size).
    const name = long(h.config.BODY_LIMIT_BYTES - 200);
    const res = await h.json('POST', '/products', { ...validProduct, name }, admin.token);
    await expectProblem(res, 400, ['name']);
    // What the bad requests below must leave untouched.
    before = await snapshot();
  });

  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const res = await send(c);
      expect(res.status).toBeLessThan(500);
      const problem = await expectProblem(res, c.status, c.fields ?? []);
      if (c.status === 400 && c.fields) {
        // The detail names the fields too.
        for (const field of c.fields) expect(problem.detail).toContain(field);
      }
    });
  }

  test('the database is unchanged afterwards', async () => {
    expect(before).toBeDefined();
    const after = await snapshot();
    expect(after).toEqual(before);
    const [rows] = await h.pool.query<RowDataPacket[]>(
      'SELECT available, reserved FROM products WHERE id = ?',
      [productId],
    );
    expect({ available: Number(rows[0]?.available), reserved: Number(rows[0]?.reserved) }).toEqual({
      available: 10,
      reserved: 0,
    });
  });
});
