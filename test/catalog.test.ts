import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';

interface Product {
  id: string;
  sku: string;
  name: string;
  priceCents: number;
  currency: string;
}

interface Page {
  data: Product[];
  nextCursor: string | null;
}

interface Stock {
  productId: string;
  available: number;
  reserved: number;
}

// Password hashing and the concurrency burst run slow on a loaded 2-core machine; bun's default is 5 s.
setDefaultTimeout(30_000);

let h: Harness;
let admin: { id: string; token: string };
let user: { id: string; token: string };
let skuN = 0;

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  user = await h.signUp('user');
});

afterAll(async () => {
  await h?.cleanup();
});

function newProduct(overrides: Partial<Record<string, unknown>> = {}) {
  skuN += 1;
  return {
    sku: `SKU-${skuN}-${h.prefix.slice(-6)}`,
    name: `Product ${skuN}`,
    priceCents: 1000 + skuN,
    currency: 'EUR',
    available: 10,
    ...overrides,
  };
}

async function createProduct(overrides: Partial<Record<string, unknown>> = {}): Promise<Product> {
  return expectJson<Product>(await h.json('POST', '/products', newProduct(overrides), admin.token), 201);
}

async function storedStock(id: string): Promise<{ available: number; reserved: number } | undefined> {
  const [rows] = await h.pool.query<RowDataPacket[]>(
    'SELECT available, reserved FROM products WHERE id = ?',
    [id],
  );
  const row = rows[0];
  return row ? { available: Number(row.available), reserved: Number(row.reserved) } : undefined;
}

describe('products', () => {
  test('an admin creates a product; anyone reads it back', async () => {
    const input = newProduct({ name: 'Blue Mug', priceCents: 1299, available: 7 });
    const created = await expectJson<Product>(await h.json('POST', '/products', input, admin.token), 201);
    expect(created).toMatchObject({
      sku: input.sku,
      name: 'Blue Mug',
      priceCents: 1299,
      currency: 'EUR',
    });
    expect(typeof created.id).toBe('string');

    const read = await expectJson<Product>(await h.json('GET', `/products/${created.id}`), 200);
    expect(read).toEqual(created);

    const stored = await storedStock(created.id);
    expect(stored).toEqual({ available: 7, reserved: 0 });
  });

  test('a duplicate sku answers 409 and stores nothing', async () => {
    const input = newProduct({ available: 4 });
    const first = await expectJson<Product>(await h.json('POST', '/products', input, admin.token), 201);
    await expectProblem(
      await h.json(
        'POST',
        '/products',
        { ...input, name: 'Copy', priceCents: 1, available: 99 },
        admin.token,
      ),
      409,
    );
    // (A unique key already forbids a second row; what it does not forbid is the first being overwritten.)
    expect(await expectJson<Product>(await h.json('GET', `/products/${first.id}`), 200)).toEqual(first);
    expect(await storedStock(first.id)).toEqual({ available: 4, reserved: 0 });
  });

  test('creating needs an admin: 401 anonymous, 403 for a user', async () => {
    const input = newProduct();
    await expectProblem(await h.json('POST', '/products', input), 401);
    await expectProblem(await h.json('POST', '/products', input, user.token), 403);
    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM products WHERE sku = ?', [
      input.sku,
    ]);
    expect(Number(rows[0]?.n)).toBe(0);
  });

  test('an unknown product answers 404', async () => {
    await expectProblem(await h.json('GET', '/products/prd_doesnotexist'), 404);
  });

  test('the list pages through every product exactly once with a cursor', async () => {
    const created: Product[] = [];
    for (let i = 0; i < 7; i++) created.push(await createProduct());

    const seen: Product[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=3&cursor=${encodeURIComponent(cursor)}` : '?limit=3';
      const page: Page = await expectJson<Page>(await h.json('GET', `/products${query}`), 200);
      expect(page.data.length).toBeLessThanOrEqual(3);
      if (page.nextCursor !== null) expect(page.data).toHaveLength(3);
      seen.push(...page.data);
      cursor = page.nextCursor;
      pages += 1;
      expect(pages).toBeLessThan(50);
    } while (cursor);

    const ids = seen.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT id FROM products');
    expect([...ids].sort()).toEqual(rows.map((r) => String(r.id)).sort());
    expect(pages).toBe(Math.ceil(ids.length / 3));
    for (const p of created) expect(seen).toContainEqual(p);

    // The default page answers too, and a page past the end is empty.
    const all = await expectJson<Page>(await h.json('GET', '/products'), 200);
    expect(all.data.length).toBe(Math.min(20, ids.length));
    const last = ids.toSorted().at(-1) ?? '';
    const beyond = await expectJson<Page>(await h.json('GET', `/products?cursor=${last}`), 200);
    expect(beyond).toEqual({ data: [], nextCursor: null });
  });
});

describe('inventory', () => {
  test('reading stock needs a signed-in caller', async () => {
    const p = await createProduct({ available: 12 });
    await expectProblem(await h.json('GET', `/inventory/${p.id}`), 401);
    const stock = await expectJson<Stock>(
      await h.json('GET', `/inventory/${p.id}`, undefined, user.token),
      200,
    );
    expect(stock).toEqual({ productId: p.id, available: 12, reserved: 0 });
  });

  test('an admin sets and adjusts stock', async () => {
    const p = await createProduct({ available: 10 });
    const put = (body: unknown) => h.json('PUT', `/inventory/${p.id}/update`, body, admin.token);

    expect(await expectJson<Stock>(await put({ available: 50 }), 200)).toEqual({
      productId: p.id,
      available: 50,
      reserved: 0,
    });
    expect((await expectJson<Stock>(await put({ delta: 5 }), 200)).available).toBe(55);
    expect((await expectJson<Stock>(await put({ delta: -15 }), 200)).available).toBe(40);
    expect((await expectJson<Stock>(await put({ delta: -40 }), 200)).available).toBe(0);
    expect((await expectJson<Stock>(await put({ available: 3 }), 200)).available).toBe(3);
    expect(await storedStock(p.id)).toEqual({ available: 3, reserved: 0 });

    const read = await expectJson<Stock>(
      await h.json('GET', `/inventory/${p.id}`, undefined, user.token),
      200,
    );
    expect(read.available).toBe(3);
  });

  test('a delta that would go below zero answers 409 and leaves stock unchanged', async () => {
    const p = await createProduct({ available: 4 });
    const put = (body: unknown) => h.json('PUT', `/inventory/${p.id}/update`, body, admin.token);
    await expectProblem(await put({ delta: -5 }), 409);
    await expectProblem(await put({ delta: -1_000_000_000 }), 409);
    expect(await storedStock(p.id)).toEqual({ available: 4, reserved: 0 });
    // Exactly down to zero is allowed; one more is not.
    expect((await expectJson<Stock>(await put({ delta: -4 }), 200)).available).toBe(0);
    await expectProblem(await put({ delta: -1 }), 409);
    expect(await storedStock(p.id)).toEqual({ available: 0, reserved: 0 });
  });

  test('an unknown product answers 404 on read and on update', async () => {
    await expectProblem(await h.json('GET', '/inventory/prd_doesnotexist', undefined, user.token), 404);
    await expectProblem(
      await h.json('PUT', '/inventory/prd_doesnotexist/update', { available: 5 }, admin.token),
      404,
    );
    await expectProblem(
      await h.json('PUT', '/inventory/prd_doesnotexist/update', { delta: 5 }, admin.token),
      404,
    );
    await expectProblem(
      await h.json('PUT', '/inventory/prd_doesnotexist/update', { delta: -5 }, admin.token),
      404,
    );
    const [rows] = await h.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM products WHERE id = ?', [
      'prd_doesnotexist',
    ]);
    expect(Number(rows[0]?.n)).toBe(0);
  });

  test('updating needs an admin: 401 anonymous, 403 for a user', async () => {
    const p = await createProduct({ available: 9 });
    await expectProblem(await h.json('PUT', `/inventory/${p.id}/update`, { available: 0 }), 401);
    await expectProblem(await h.json('PUT', `/inventory/${p.id}/update`, { available: 0 }, user.token), 403);
    await expectProblem(await h.json('PUT', `/inventory/${p.id}/update`, { delta: -9 }, user.token), 403);
    expect(await storedStock(p.id)).toEqual({ available: 9, reserved: 0 });
  });

  test('200 concurrent decrements of a stock of 100: exactly 100 succeed, stock ends at 0', async () => {
    const p = await createProduct({ available: 100 });
    const answers = await Promise.all(
      Array.from({ length: 200 }, () =>
        h.json('PUT', `/inventory/${p.id}/update`, { delta: -1 }, admin.token),
      ),
    );
    const statuses = answers.map((r) => r.status);
    const ok = answers.filter((r) => r.status === 200);
    const conflicts = answers.filter((r) => r.status === 409);
    expect({
      ok: ok.length,
      conflict: conflicts.length,
      other: statuses.filter((s) => s !== 200 && s !== 409),
    }).toEqual({ ok: 100, conflict: 100, other: [] });

    // Each success reports the stock read after its change (other changes may have landed since).
    for (const r of ok) {
      const stock = (await r.json()) as Stock;
      expect(stock.productId).toBe(p.id);
      expect(stock.available).toBeGreaterThanOrEqual(0);
      expect(stock.available).toBeLessThan(100);
    }
    for (const r of conflicts) await expectProblem(r, 409);

    expect(await storedStock(p.id)).toEqual({ available: 0, reserved: 0 });
    const stock = await expectJson<Stock>(
      await h.json('GET', `/inventory/${p.id}`, undefined, user.token),
      200,
    );
    expect(stock.available).toBe(0);
  });
});
