import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { createApp } from '../api/app';
import { apiKeyScopes } from '../domain/api-keys/scopes';
import { createRedis } from '../lib/redis';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';
import { shop } from './support/shop';
import { eventually } from './support/workers';

setDefaultTimeout(60_000);

interface Created {
  id: string;
  name: string;
  scopes: string[];
  key: string;
  createdAt: string;
}
interface Listed {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt?: string;
}

let h: Harness;
let admin: { id: string; token: string };
let user: { id: string; token: string };
/** Another API instance: its own Redis connection, the same database and prefix (as test/token-cache.test.ts). */
let other: ReturnType<typeof createApp>;
let second: ReturnType<typeof createRedis>;

beforeAll(async () => {
  h = await createHarness();
  second = createRedis(h.config.REDIS_URL, 'producer', 'orderflow-second-api');
  other = createApp({ ...h.deps, redis: second }, h.live);
  admin = await h.signUp('admin');
  user = await h.signUp('user');
});
afterAll(async () => {
  second?.disconnect();
  await h?.cleanup();
});

const newKey = async (scopes: string[], name = 'erp') =>
  expectJson<Created>(await h.json('POST', '/api-keys', { name, scopes }, admin.token), 201);
const listKeys = async () =>
  (await expectJson<{ data: Listed[] }>(await h.json('GET', '/api-keys', undefined, admin.token), 200)).data;
const getOrdersOn = (app: ReturnType<typeof createApp>, key: string) =>
  app.request('/orders?status=pending', { headers: { authorization: `Bearer ${key}` } });

describe('creating and listing keys', () => {
  test('an admin creates a key: shown once (of_…), stored only as a keyed hash, never listed', async () => {
    const created = await newKey(['orders:read', 'events:read'], 'warehouse');
    expect(created.key).toMatch(/^of_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({ name: 'warehouse', scopes: ['orders:read', 'events:read'] });
    const listed = (await listKeys()).find((k) => k.id === created.id);
    expect(listed).toEqual({
      id: created.id,
      name: 'warehouse',
      scopes: ['orders:read', 'events:read'],
      createdAt: created.createdAt,
    });
    const [rows] = await h.pool.query(
      'SELECT secret_hash AS hash, created_by AS creator FROM api_keys WHERE id = ?',
      [created.id],
    );
    const [row] = rows as { hash: string; creator: string }[];
    // Not the key, not its secret: 64 hex digits of HMAC, and who made it.
    expect(row?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(created.key).not.toContain(row?.hash ?? '-');
    expect(row?.creator).toBe(admin.id);
    // The key works.
    expect((await getOrdersOn(h.app, created.key)).status).toBe(200);
  });

  test('bad input is a 400 problem naming the field, and creates nothing', async () => {
    const before = (await listKeys()).length;
    const cases: [unknown, string][] = [
      [{ name: '', scopes: ['orders:read'] }, 'name'],
      [{ name: '   ', scopes: ['orders:read'] }, 'name'],
      [{ name: 'x', scopes: ['orders:delete'] }, 'scopes.0'],
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: 'x', scopes: ['orders:read', 'orders:read'] }, 'scopes'],
      [{ name: 'x' }, 'scopes'],
      [{ name: 'x', scopes: ['orders:read'], key: 'of_mine' }, 'key'],
    ];
    for (const [body, field] of cases) {
      await expectProblem(await h.json('POST', '/api-keys', body, admin.token), 400, [field]);
    }
    expect((await listKeys()).length).toBe(before);
  });

  test('only an admin manages keys: a user gets 403, a key (even with every scope) 403, nobody 401', async () => {
    const all = await newKey([...apiKeyScopes]);
    for (const token of [user.token, all.key]) {
      await expectProblem(
        await h.json('POST', '/api-keys', { name: 'x', scopes: ['orders:read'] }, token),
        403,
      );
      await expectProblem(await h.json('GET', '/api-keys', undefined, token), 403);
      await expectProblem(await h.json('DELETE', `/api-keys/${all.id}`, undefined, token), 403);
    }
    await expectProblem(await h.json('GET', '/api-keys'), 401);
    // The key survived every attempt to delete it.
    expect((await getOrdersOn(h.app, all.key)).status).toBe(200);
  });

  test('lastUsedAt appears after use, and is not written again on every request', async () => {
    const created = await newKey(['orders:read']);
    expect((await listKeys()).find((k) => k.id === created.id)?.lastUsedAt).toBeUndefined();
    // A fresh app: its verifier has never flushed, so the first use is written at once.
    const fresh = createApp({ ...h.deps });
    expect((await getOrdersOn(fresh, created.key)).status).toBe(200);
    const first = await eventually(
      async () => (await listKeys()).find((k) => k.id === created.id)?.lastUsedAt,
      (at) => at !== undefined,
    );
    for (let i = 0; i < 5; i++) expect((await getOrdersOn(fresh, created.key)).status).toBe(200);
    // Within the flush interval (30 s) those five uses are remembered, not written.
    expect((await listKeys()).find((k) => k.id === created.id)?.lastUsedAt).toBe(first);
  });
});

describe('refusals', () => {
  test('an unknown, tampered or malformed key is 401', async () => {
    const created = await newKey(['orders:read']);
    const secret = created.key.slice(-43);
    const tampered = created.key.slice(0, -43) + (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
    const unknown = `of_${'0'.repeat(32)}_${secret}`;
    for (const key of [tampered, unknown, 'of_nonsense', `${created.key}x`]) {
      const body = await expectProblem(await getOrdersOn(h.app, key), 401);
      expect(body.detail).toMatch(/API key/);
    }
    // The genuine key next to them still works.
    expect((await getOrdersOn(h.app, created.key)).status).toBe(200);
  });

  test('a missing scope is 403 naming it', async () => {
    const created = await newKey(['events:read']);
    const body = await expectProblem(await getOrdersOn(h.app, created.key), 403);
    expect(body.detail).toContain('orders:read');
  });

  test('a key never places or pays for orders, whatever its scopes', async () => {
    const all = await newKey([...apiKeyScopes]);
    const s = shop(h, admin);
    const product = await s.product(5);
    const placed = await h.json(
      'POST',
      '/orders',
      { items: [{ productId: product, quantity: 1 }], payment: { token: 'tok_visa' } },
      all.key,
    );
    expect((await expectProblem(placed, 403)).detail).toContain('cannot place');
    const paid = await h.json('POST', '/payment', { orderId: 'ord_x', token: 'tok_visa' }, all.key);
    expect((await expectProblem(paid, 403)).detail).toContain('cannot place');
    const [rows] = await h.pool.query('SELECT COUNT(*) AS n FROM order_items WHERE product_id = ?', [
      product,
    ]);
    expect(Number((rows as { n: number }[])[0]?.n)).toBe(0);
  });
});

describe('deleting a key', () => {
  test('a deleted key is refused at once by another API process that had it cached', async () => {
    const created = await newKey(['orders:read']);
    // Both instances have verified (and so cached) the key.
    expect((await getOrdersOn(h.app, created.key)).status).toBe(200);
    expect((await getOrdersOn(other, created.key)).status).toBe(200);

    expect((await h.json('DELETE', `/api-keys/${created.id}`, undefined, admin.token)).status).toBe(204);
    // No wait: the very next request on the other instance.
    expect((await expectProblem(await getOrdersOn(other, created.key), 401)).detail).toContain('deleted');
    await expectProblem(await getOrdersOn(h.app, created.key), 401);
    // And on an instance that never saw it (reads the row).
    await expectProblem(await getOrdersOn(createApp({ ...h.deps }), created.key), 401);
    expect((await listKeys()).some((k) => k.id === created.id)).toBe(false);
    // Deleting again answers the same; an unknown id is 404.
    expect((await h.json('DELETE', `/api-keys/${created.id}`, undefined, admin.token)).status).toBe(204);
    await expectProblem(await h.json('DELETE', '/api-keys/key_unknown', undefined, admin.token), 404);
  });
});

describe('a rate limit per key', () => {
  let limited: Harness;
  beforeAll(async () => {
    limited = await createHarness({ RATE_LIMITS: 'on', RATE_LIMIT_PER_MINUTE: '3' });
  });
  afterAll(() => limited?.cleanup());

  test("each key has its own budget: one key's 429 does not touch another's", async () => {
    const boss = await limited.signUp('admin');
    const make = async () =>
      expectJson<Created>(
        await limited.json('POST', '/api-keys', { name: 'k', scopes: ['orders:read'] }, boss.token),
        201,
      );
    const [a, b] = [await make(), await make()];
    const get = (key: string) => limited.json('GET', '/orders?status=pending', undefined, key);
    for (let i = 0; i < 3; i++) expect((await get(a.key)).status).toBe(200);
    const refused = await expectProblem(await get(a.key), 429);
    expect(refused.detail).toContain('key limit');
    expect((await get(b.key)).status).toBe(200);
  });
});
