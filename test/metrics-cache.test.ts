import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test';
import { createApp } from '../api/app';
import { createMetrics, scrapeAllowed } from '../wiring/metrics';
import { createHarness, type Harness } from './support/harness';
import { expectProblem } from './support/problems';
import { shop } from './support/shop';
import { eventually } from './support/workers';

const TOKEN = 'metrics-token-for-tests-0123456789';
const CACHE_SECONDS = 2;

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ METRICS_TOKEN: TOKEN, METRICS_ORDERS_CACHE_SECONDS: String(CACHE_SECONDS) });
});
afterAll(async () => {
  await h.cleanup();
});

const scrape = (authorization: string | null = `Bearer ${TOKEN}`) =>
  h.app.request('/metrics', { headers: authorization ? { authorization } : {} });

function ordersInStatus(text: string, status: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`orders_by_status{status="${status}"} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/**
 * Counts the SELECTs made through the app's database handle while `work` runs. One count is a few of
 * them (orders by status, the review queue, the queued messages), cached together: the test measures
 * how many one count takes and checks that scrapes share it.
 */
async function countSelects(work: () => Promise<void>): Promise<number> {
  const spy = spyOn(h.deps.db, 'select');
  try {
    await work();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe('GET /metrics with METRICS_TOKEN', () => {
  test('without the token, or with another one: 401 problem+json with a Bearer challenge', async () => {
    for (const authorization of [null, 'Bearer wrong-token-wrong-token-00', `Basic ${TOKEN}`, TOKEN]) {
      const res = await scrape(authorization);
      expect(res.headers.get('www-authenticate') ?? '').toContain('Bearer');
      await expectProblem(res, 401);
    }
  });

  test('with the token: the exposition', async () => {
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE orders_by_status gauge');
  });
});

describe('scrapeAllowed (the API route and a lone worker process share it)', () => {
  test('no token configured: every scrape; a token configured: only its Bearer', () => {
    expect(scrapeAllowed(undefined, undefined)).toBe(true);
    expect(scrapeAllowed('Bearer anything', undefined)).toBe(true);
    expect(scrapeAllowed(undefined, TOKEN)).toBe(false);
    expect(scrapeAllowed(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(scrapeAllowed(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(scrapeAllowed(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(scrapeAllowed(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN)).toBe(false);
    expect(scrapeAllowed(TOKEN, TOKEN)).toBe(false);
  });
});

describe('orders by status without a scan per scrape', () => {
  test('scrapes in a row, or at once, run the count once', async () => {
    // A Metrics of its own with a long cache, so that a slow machine cannot age the count mid-test.
    const metrics = createMetrics({ db: h.deps.db, queues: h.deps.queues.queues, ordersCacheSeconds: 300 });
    const app = createApp({ ...h.deps, metrics });
    const get = () => app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    const one = await countSelects(async () => {
      const single = createApp({
        ...h.deps,
        metrics: createMetrics({ db: h.deps.db, queues: h.deps.queues.queues, ordersCacheSeconds: 300 }),
      });
      expect(
        (await single.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } })).status,
      ).toBe(200);
    });
    expect(one).toBeGreaterThan(0);
    const inARow = await countSelects(async () => {
      for (let i = 0; i < 2; i++) expect((await get()).status).toBe(200);
    });
    expect(inARow).toBe(one);
    const atOnce = await countSelects(async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => get()));
      for (const res of answers) expect(res.status).toBe(200);
    });
    expect(atOnce).toBe(0);
    // Twenty at once on a fresh Metrics share the one count in flight.
    const fresh = createApp({
      ...h.deps,
      metrics: createMetrics({ db: h.deps.db, queues: h.deps.queues.queues, ordersCacheSeconds: 0 }),
    });
    const burst = await countSelects(async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fresh.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } }),
        ),
      );
      for (const res of answers) expect(res.status).toBe(200);
    });
    expect(burst).toBe(one);
  });

  test('the whole exposition serves scrapes for METRICS_CACHE_SECONDS: the next scrape asks neither Redis nor MySQL', async () => {
    const metrics = createMetrics({
      db: h.deps.db,
      queues: h.deps.queues.queues,
      ordersCacheSeconds: 0,
      scrapeCacheSeconds: 300,
    });
    const app = createApp({ ...h.deps, metrics });
    const get = async () => {
      const res = await app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      return res.text();
    };
    const first = await get();
    const exports = Object.values(h.deps.queues.queues).map((q) => spyOn(q, 'exportPrometheusMetrics'));
    const waiting = Object.values(h.deps.queues.queues).map((q) => spyOn(q, 'getJobs'));
    try {
      let texts: string[] = [];
      const selects = await countSelects(async () => {
        texts = await Promise.all([get(), get(), get()]);
      });
      expect(selects).toBe(0);
      expect(exports.reduce((n, spy) => n + spy.mock.calls.length, 0)).toBe(0);
      expect(waiting.reduce((n, spy) => n + spy.mock.calls.length, 0)).toBe(0);
      // The same text, although the app answered requests in between (its own counters moved).
      expect(texts).toEqual([first, first, first]);
    } finally {
      for (const spy of [...exports, ...waiting]) spy.mockRestore();
    }
  });

  test('a refused scrape (no token) runs no count at all', async () => {
    await Bun.sleep(CACHE_SECONDS * 1000 + 50);
    const selects = await countSelects(async () => {
      for (let i = 0; i < 5; i++) expect((await scrape(null)).status).toBe(401);
    });
    expect(selects).toBe(0);
  });

  test('the gauges still follow the orders, within METRICS_ORDERS_CACHE_SECONDS', async () => {
    const admin = await h.signUp('admin');
    const user = await h.signUp('user');
    const s = shop(h, admin);
    const p = await s.product(5);
    const before = ordersInStatus(await (await scrape()).text(), 'pending') ?? 0;
    expect((await s.place(user.token, p, 1)).status).toBe(202);
    expect((await s.place(user.token, p, 1)).status).toBe(202);
    const seen = await eventually(
      async () => ordersInStatus(await (await scrape()).text(), 'pending'),
      (n) => n === before + 2,
      (CACHE_SECONDS + 5) * 1000,
    );
    expect(seen).toBe(before + 2);
    // Two sign-ups (argon2) and the count's own cache: past bun's 5 s default on a loaded machine.
  }, 30_000);
});
