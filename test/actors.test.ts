import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { expireHolds } from '../domain/orders/compensate';
import { createLogger } from '../lib/logger';
import { createHarness, type Harness } from './support/harness';
import { expectJson } from './support/problems';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// Each change in an order's timeline names who caused it (GET /orders/{id} `events[].actor`), and the
// API's log line of a change made by a request says so too.
setDefaultTimeout(60_000);

type Line = Record<string, unknown>;
interface Timeline {
  id: string;
  status: string;
  events: {
    from: string | null;
    to: string;
    at: string;
    reason?: string;
    actor: { type: string; id?: string };
  }[];
}

const lines: Line[] = [];
let h: Harness;
let w: TestWorkers;
let admin: { id: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  const logger = createLogger(
    'info',
    {},
    { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Line) },
  );
  h = await createHarness({ LOG_LEVEL: 'info', EMAIL_RATE_MAX: '1000', JOB_BACKOFF_MS: '50' }, logger);
  w = await startTestWorkers(h, { concurrency: 5, logger: createLogger('silent') });
  admin = await h.signUp('admin');
  s = shop(h, admin);
});
afterAll(async () => {
  await w?.stop();
  await h?.cleanup();
});

const timeline = async (id: string) => (await s.order(id)) as unknown as Timeline;
const reaches = (id: string, status: string) =>
  eventually(
    () => timeline(id),
    (o) => o.status === status,
  );
const place = async (token: string, payment: string | null) => {
  const product = await s.product(5);
  return (await expectJson<{ id: string }>(await s.place(token, product, 1, payment), 202)).id;
};
const actors = (o: Timeline) => o.events.map((e) => [e.to, e.actor]);
const system = { type: 'system' };

describe('the timeline says who caused each change', () => {
  test("the saga's steps are the system's; the placing is the customer's", async () => {
    const user = await h.signUp('user');
    const id = await place(user.token, 'tok_visa');
    const done = await reaches(id, 'completed');
    expect(actors(done)).toEqual([
      ['pending', { type: 'user', id: user.id }],
      ['reserved', system],
      ['paid', system],
      ['completed', system],
    ]);
  });

  test("a customer's cancel is the customer's, in the timeline and in the log line of the change", async () => {
    const user = await h.signUp('user');
    const id = await place(user.token, null);
    await reaches(id, 'reserved');
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token)).status).toBe(200);
    const o = await timeline(id);
    expect(o.events.at(-1)).toMatchObject({ to: 'cancelled', actor: { type: 'user', id: user.id } });
    const line = lines.find((l) => l.msg === 'order cancelled' && l.orderId === id);
    expect(line?.actor).toEqual({ type: 'user', id: user.id });
  });

  test("an admin's cancel of a customer's order is the admin's", async () => {
    const user = await h.signUp('user');
    const id = await place(user.token, null);
    await reaches(id, 'reserved');
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, admin.token)).status).toBe(200);
    expect((await timeline(id)).events.at(-1)).toMatchObject({
      to: 'cancelled',
      actor: { type: 'admin', id: admin.id },
    });
  });

  test("an admin's review decision is the admin's; the charge that follows is the system's", async () => {
    const user = await h.signUp('user');
    const id = await place(user.token, 'tok_riskLevelElevated');
    await reaches(id, 'review');
    const res = await h.json('POST', `/orders/${id}/review`, { decision: 'approve' }, admin.token);
    expect(res.status).toBe(200);
    const done = await reaches(id, 'completed');
    expect(actors(done)).toEqual([
      ['pending', { type: 'user', id: user.id }],
      ['reserved', system],
      ['review', system],
      ['reserved', { type: 'admin', id: admin.id }],
      ['paid', system],
      ['completed', system],
    ]);
    const line = lines.find((l) => l.msg === 'review decided' && l.orderId === id);
    expect(line?.actor).toEqual({ type: 'admin', id: admin.id });
  });

  test("an API key's cancel is the key's, by its id", async () => {
    const key = await expectJson<{ id: string; key: string }>(
      await h.json('POST', '/api-keys', { name: 'warehouse', scopes: ['orders:write'] }, admin.token),
      201,
    );
    const user = await h.signUp('user');
    const id = await place(user.token, null);
    await reaches(id, 'reserved');
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, key.key)).status).toBe(200);
    expect((await timeline(id)).events.at(-1)).toMatchObject({
      to: 'cancelled',
      actor: { type: 'api_key', id: key.id },
    });
  });

  test("an API key's review decision is the key's", async () => {
    const key = await expectJson<{ id: string; key: string }>(
      await h.json('POST', '/api-keys', { name: 'risk desk', scopes: ['orders:write'] }, admin.token),
      201,
    );
    const user = await h.signUp('user');
    const id = await place(user.token, 'tok_riskLevelElevated');
    await reaches(id, 'review');
    expect((await h.json('POST', `/orders/${id}/review`, { decision: 'reject' }, key.key)).status).toBe(200);
    expect((await timeline(id)).events.at(-1)).toMatchObject({
      from: 'review',
      to: 'rejected',
      actor: { type: 'api_key', id: key.id },
    });
  });

  test("an expired hold's cancel is the system's", async () => {
    const user = await h.signUp('user');
    const id = await place(user.token, null);
    await reaches(id, 'reserved');
    // As the maintenance sweep calls it, with a clock past the hold.
    const expired = await expireHolds(h.deps.orders, new Date(Date.now() + 3600_000));
    expect(expired.expired.map((e) => e.orderId)).toContain(id);
    expect((await timeline(id)).events.at(-1)).toEqual({
      from: 'reserved',
      to: 'cancelled',
      at: expect.any(String),
      reason: 'reservation_expired',
      actor: system,
    });
  });

  test('a product records who created it: an admin, or an API key with catalog:write', async () => {
    const key = await expectJson<{ id: string; key: string }>(
      await h.json('POST', '/api-keys', { name: 'pim', scopes: ['catalog:write'] }, admin.token),
      201,
    );
    const body = (sku: string) => ({ sku, name: 'Thing', priceCents: 100, currency: 'EUR', available: 1 });
    const byAdmin = await expectJson<{ id: string }>(
      await h.json('POST', '/products', body(`A-${h.prefix}`), admin.token),
      201,
    );
    const byKey = await expectJson<{ id: string }>(
      await h.json('POST', '/products', body(`K-${h.prefix}`), key.key),
      201,
    );
    const [rows] = await h.pool.query(
      'SELECT id, created_by_type AS type, created_by AS creator FROM products WHERE id IN (?, ?) ORDER BY created_by_type',
      [byAdmin.id, byKey.id],
    );
    expect(rows as unknown[]).toEqual([
      { id: byAdmin.id, type: 'admin', creator: admin.id },
      { id: byKey.id, type: 'api_key', creator: key.id },
    ]);
  });
});
