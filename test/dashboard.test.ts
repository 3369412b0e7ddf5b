import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { launchChromium } from './support/browser';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers } from './support/workers';

const PASSWORD = 'correct horse battery';
// The picture in docs/operations.md is refreshed on demand (UPDATE_SCREENSHOT=1 bun test test/dashboard.test.ts);
// an ordinary run writes to a temporary file, so testing leaves the work tree as it was.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? join(import.meta.dir, '..', 'docs', 'dashboard.png')
  : join(tmpdir(), `orderflow-dashboard-${process.pid}.png`);

let h: Harness;
let admin: { id: string; email: string; token: string };
let user: { id: string; email: string; token: string };

const basic = (email: string, password: string) =>
  `Basic ${Buffer.from(`${email}:${password}`, 'utf8').toString('base64')}`;
const asAdmin = () => ({ authorization: basic(admin.email, PASSWORD) });

interface WorkerView {
  name: string;
  queues: string[];
  host: string;
  pid: number;
  concurrency: number;
  startedAt: string;
}

async function workers(token = admin.token): Promise<WorkerView[]> {
  const res = await h.json('GET', '/system/workers', undefined, token);
  expect(res.status).toBe(200);
  return ((await res.json()) as { workers: WorkerView[] }).workers;
}

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
});
afterAll(async () => {
  await h.cleanup();
});

describe('/admin/queues guard (HTTP Basic, admins only)', () => {
  test('anonymous: 401 problem+json with a Basic challenge', async () => {
    const res = await h.app.request('/admin/queues');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('www-authenticate')).toContain('Basic realm="orderflow-admin"');
    const body = (await res.json()) as { status: number; instance: string };
    expect(body).toMatchObject({ status: 401, instance: '/admin/queues' });
  });

  test('a Bearer token is not accepted: the board only takes what a browser sends', async () => {
    const res = await h.app.request('/admin/queues', { headers: { authorization: `Bearer ${admin.token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic realm="orderflow-admin"');
  });

  test('a wrong password or an unknown email: 401 with the challenge', async () => {
    for (const authorization of [
      basic(admin.email, 'wrong horse battery'),
      basic(`nobody_${admin.email}`, PASSWORD),
      'Basic !!!not-base64',
      basic('no-colon-here', '').replace(/=+$/, ''),
    ]) {
      const res = await h.app.request('/admin/queues', { headers: { authorization } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Basic realm="orderflow-admin"');
    }
  });

  test('a wrong password stays refused after the right one was accepted (the cache is per header)', async () => {
    expect((await h.app.request('/admin/queues/api/queues', { headers: asAdmin() })).status).toBe(200);
    const res = await h.app.request('/admin/queues/api/queues', {
      headers: { authorization: basic(admin.email, `${PASSWORD}!`) },
    });
    expect(res.status).toBe(401);
  });

  test("a valid non-admin's credentials: 403", async () => {
    const res = await h.app.request('/admin/queues', {
      headers: { authorization: basic(user.email, PASSWORD) },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const api = await h.app.request('/admin/queues/api/queues', {
      headers: { authorization: basic(user.email, PASSWORD) },
    });
    expect(api.status).toBe(403);
  });

  test('an admin gets the board page, and its static files are served', async () => {
    const res = await h.app.request('/admin/queues', { headers: asAdmin() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('cache-control')).toContain('no-store');
    const html = await res.text();
    expect(html).toContain('<base href="/admin/queues/"');
    const scripts = [...html.matchAll(/src="(static\/[^"]+\.js)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    const js = await h.app.request(`/admin/queues/${scripts[0]}`, { headers: asAdmin() });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  test('static files do not depend on the working directory', async () => {
    const previous = process.cwd();
    process.chdir('/');
    try {
      const res = await h.app.request('/admin/queues/static/images/logo.svg', { headers: asAdmin() });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<svg');
    } finally {
      process.chdir(previous);
    }
  });

  test('a deep link of the board is served its page; the trailing-slash root redirects', async () => {
    const deep = await h.app.request('/admin/queues/queue/reserve', { headers: asAdmin() });
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-type')).toContain('text/html');
    const slash = await h.app.request('/admin/queues/', { headers: asAdmin() });
    expect(slash.status).toBe(302);
    expect(slash.headers.get('location')).toBe('/admin/queues');
  });

  test("the board's API lists the queues for an admin (concurrent requests share one check)", async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => h.app.request('/admin/queues/api/queues', { headers: asAdmin() })),
    );
    for (const res of answers) expect(res.status).toBe(200);
    const body = (await answers[0]?.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    const names = body.queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['reserve', 'charge', 'notify']));
    // Retries and job inspection are on: the board is not read-only.
    expect(body.queues.every((q) => q.readOnlyMode === false)).toBe(true);
  });

  test("a path the board does not serve gets the API's own 404; a retry on an unknown job the board's answer", async () => {
    const missing = await h.app.request('/admin/queues/no/such/page', { headers: asAdmin() });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(missing.headers.get('cache-control')).toBe('private, no-store');
    // Any method reaches the board's own API, which answers for itself (its JSON, not a problem).
    const retry = await h.app.request('/admin/queues/api/queues/reserve/no-such-job/retry', {
      method: 'PUT',
      headers: { ...asAdmin(), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(retry.status).toBe(404);
    expect(retry.headers.get('content-type')).toContain('application/json');
    expect(await retry.json()).toEqual({ error: { key: 'ERRORS.JOB_NOT_FOUND' } });
  });

  test("the board's API refuses anonymous callers", async () => {
    const res = await h.app.request('/admin/queues/api/queues');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic realm="orderflow-admin"');
  });
});

describe('GET /system/workers', () => {
  test('lists a running worker process (one entry per host+pid) and drops it once it stops', async () => {
    const before = await workers();
    expect(before.filter((x) => x.pid === process.pid)).toEqual([]);

    const w = await startTestWorkers(h, { queues: ['reserve', 'charge'], concurrency: 3 });
    let stopped = false;
    try {
      const listed = await eventually(workers, (list) => list.some((x) => x.pid === process.pid), 5000);
      const mine = listed.filter((x) => x.pid === process.pid);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({
        name: `${hostname()}:${process.pid}`,
        host: hostname(),
        pid: process.pid,
        concurrency: 3,
        queues: ['charge', 'reserve'],
      });
      expect(Number.isNaN(Date.parse(mine[0]?.startedAt ?? ''))).toBe(false);

      await w.stop();
      stopped = true;
      await eventually(workers, (list) => !list.some((x) => x.pid === process.pid), 10_000);
    } finally {
      if (!stopped) await w.stop();
    }
  });

  test('admins only: 401 without a token, 403 for a non-admin', async () => {
    expect((await h.json('GET', '/system/workers')).status).toBe(401);
    const res = await h.json('GET', '/system/workers', undefined, user.token);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('the board in a real browser', () => {
  test('headless Chromium signs in with Basic credentials and shows the queues', async () => {
    // Some history for the picture: orders that went through, then a few waiting for workers.
    const s = shop(h, admin);
    const product = await s.product(100);
    const w = await startTestWorkers(h, { concurrency: 5 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await s.place(user.token, product, 1);
        expect(res.status).toBe(202);
        ids.push(((await res.json()) as { id: string }).id);
      }
      for (const id of ids)
        await eventually(
          () => s.order(id),
          (o) => o.status === 'completed',
        );
    } finally {
      await w.stop();
    }
    for (let i = 0; i < 2; i++) expect((await s.place(user.token, product, 1)).status).toBe(202);

    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: h.app.fetch });
    const origin = `http://127.0.0.1:${server.port}`;
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({
        httpCredentials: { username: admin.email, password: PASSWORD, origin },
        viewport: { width: 1280, height: 800 },
      });
      // Hermetic: the page links web fonts; nothing but our own server is reached.
      await context.route(
        (url) => url.origin !== origin,
        (route) => route.abort(),
      );
      const page = await context.newPage();
      const response = await page.goto(`${origin}/admin/queues`, { waitUntil: 'domcontentloaded' });
      expect(response?.status()).toBe(200);
      // The queue names come from the board's API (the page itself names none); "Loading" goes once the
      // overview has its counts.
      await page.waitForFunction(
        (names) => {
          // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point (what a person sees)
          const text = document.body.innerText;
          return names.every((n) => text.includes(n)) && !/Loading/i.test(text);
        },
        ['reserve', 'charge', 'notify'],
        { timeout: 30_000 },
      );
      for (const name of ['reserve', 'charge', 'notify']) {
        expect(await page.getByText(name, { exact: true }).first().isVisible()).toBe(true);
      }

      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
      expect(existsSync(SCREENSHOT)).toBe(true);
      await context.close();
    } finally {
      await browser.close();
      await server.stop(true);
    }
  }, 90_000);
});
