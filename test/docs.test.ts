import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DOCS_BUNDLE_PATH } from '../api/docs';
import { launchChromium } from './support/browser';
import { createHarness, type Harness } from './support/harness';

// The picture in docs/operations.md is refreshed on demand (UPDATE_SCREENSHOT=1 bun test test/docs.test.ts);
// an ordinary run writes to a temporary file, so testing leaves the work tree as it was.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? join(import.meta.dir, '..', 'docs', 'api-docs.png')
  : join(tmpdir(), `orderflow-api-docs-${process.pid}.png`);

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h.cleanup());

interface Operation {
  summary?: string;
  tags?: string[];
}

describe('the OpenAPI document reads as a reference', () => {
  test('every operation has a title-like summary and a tag', async () => {
    const doc = (await (await h.app.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, ...op })),
    );
    expect(ops.length).toBeGreaterThan(15);
    expect(ops.filter((o) => !o.tags?.length).map((o) => o.route)).toEqual([]);
    expect(ops.filter((o) => !o.summary).map((o) => o.route)).toEqual([]);
    // A title: short, starts with a capital, no full stop — not a sentence about the implementation.
    const notTitles = ops.filter(
      (o) => o.summary && (o.summary.length > 60 || !/^[A-Z]/.test(o.summary) || o.summary.endsWith('.')),
    );
    expect(notTitles.map((o) => `${o.route}: ${o.summary}`)).toEqual([]);
  });
});

describe('/docs needs nothing from outside the app', () => {
  test('the page loads the reference from the app itself, cached for a long time', async () => {
    const page = await h.app.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`src="${DOCS_BUNDLE_PATH}"`);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).not.toContain('cdn.jsdelivr.net');

    const script = await h.app.request(DOCS_BUNDLE_PATH);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });

  test('headless Chromium with every outside request refused shows the operations', async () => {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: h.app.fetch });
    const origin = `http://127.0.0.1:${server.port}`;
    const browser = await launchChromium();
    const refused: string[] = [];
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      // As on a machine without internet: nothing but our own server answers.
      await context.route(
        (url) => url.origin !== origin,
        (route) => {
          refused.push(route.request().url());
          return route.abort('internetdisconnected');
        },
      );
      const page = await context.newPage();
      const response = await page.goto(`${origin}/docs`, { waitUntil: 'domcontentloaded' });
      expect(response?.status()).toBe(200);
      const titles = [
        'Place an order',
        'Get an order with its timeline',
        'Pay for a reserved order',
        'Sign in with email and password',
      ];
      await page.waitForFunction(
        (wanted) => {
          // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point (what a person sees)
          const text = document.body.innerText;
          return wanted.every((t) => text.includes(t));
        },
        titles,
        { timeout: 30_000 },
      );
      for (const tag of ['orders', 'payments', 'auth', 'catalogue', 'notifications']) {
        expect(await page.getByText(tag, { exact: true }).first().isVisible()).toBe(true);
      }
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
      expect(existsSync(SCREENSHOT)).toBe(true);
      await context.close();
    } finally {
      await browser.close();
      await server.stop(true);
    }
    // Whatever the page tried outside, it rendered without it (and it should try nothing).
    expect(refused).toEqual([]);
  }, 90_000);
});
