import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { issueTokenPair } from '../domain/auth/tokens';
import { registerUser } from '../domain/users/users';
import { launchChromium } from './support/browser';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

const PASSWORD = 'correct horse battery';
// Written to docs/ on demand (UPDATE_SCREENSHOT=1 bun test test/console.test.ts); an ordinary run
// writes to a temporary folder, so testing leaves the work tree as it was.
const SHOTS = process.env.UPDATE_SCREENSHOT
  ? join(import.meta.dir, '..', 'docs')
  : join(tmpdir(), `orderflow-console-${process.pid}`);
const AXE = readFileSync(join(import.meta.dir, '..', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

// Data that would run if it were ever put into a page as HTML.
const EVIL_CUSTOMER = `Eve <script>window.__xss = 'customer'</script> "quoted" 'single'`;
const EVIL_PRODUCT = `<img src=x onerror="window.__xss='product'"> Mug <script>window.__xss='product2'</script> "q" 'q'`;

let h: Harness;
let admin: { id: string; email: string; token: string };
let customer: { id: string; email: string; token: string };
let server: ReturnType<typeof Bun.serve>;
let origin: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Requests the page tried to send anywhere but our own server: each is refused and counted. */
const outside: string[] = [];

async function axeViolations(p: Page): Promise<{ id: string; impact: string; nodes: number }[]> {
  await p.evaluate(AXE);
  const result = (await p.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`,
  )) as { id: string; impact: string; nodes: number }[];
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Every page: no serious or critical accessibility violation, no script run from data, a screenshot. */
async function checkPage(p: Page, name: string): Promise<void> {
  expect(await axeViolations(p)).toEqual([]);
  expect(await p.evaluate('window.__xss')).toBeUndefined();
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true });
}

beforeAll(async () => {
  h = await createHarness({
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
    // The webhook receiver below is a stand-in on loopback.
    WEBHOOK_ALLOW_PRIVATE: 'on',
    WEBHOOK_DISPATCH_EVERY_MS: '100',
  });
  admin = await h.signUp('admin');
  const evil = await registerUser(h.db, h.config.piiKey, {
    email: `eve_${h.prefix}@example.test`,
    password: PASSWORD,
    name: EVIL_CUSTOMER,
  });
  const pair = await issueTokenPair(
    h.db,
    { secret: h.config.jwtSecret, accessTtlSeconds: 900, refreshTtlSeconds: 3600 },
    { userId: evil.id, role: 'user' },
  );
  customer = { id: evil.id, email: evil.email, token: pair.accessToken };
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: h.app.fetch, idleTimeout: 60 });
  origin = `http://127.0.0.1:${server.port}`;
  browser = await launchChromium();
  // CSP bypassed: the page must be safe by escaping alone, not only because the CSP would stop a script.
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  await context.route(
    (url) => url.origin !== origin,
    (route) => {
      outside.push(route.request().url());
      return route.abort();
    },
  );
  page = await context.newPage();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop(true);
  await h.cleanup();
});

async function placeAndSettle(
  productId: string,
  token: string,
  until: string,
  workers: TestWorkers | undefined,
) {
  const s = shop(h, admin);
  const res = await s.place(customer.token, productId, 1, token);
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  if (workers)
    await eventually(
      () => s.order(id),
      (o) => o.status === until,
    );
  return id;
}

describe('the console in headless Chromium', () => {
  let productId: string;
  let completedId: string;
  let reviewId: string;

  test('sign in by keyboard only (tab to each field, Enter to submit)', async () => {
    const s = shop(h, admin);
    const res = await h.json(
      'POST',
      '/products',
      {
        sku: `SKU-${crypto.randomUUID().slice(0, 8)}`,
        name: EVIL_PRODUCT,
        priceCents: 1250,
        currency: 'EUR',
        available: 50,
      },
      admin.token,
    );
    expect(res.status).toBe(201);
    productId = ((await res.json()) as { id: string }).id;
    // One order completed, one parked for review (reserve and charge only: nothing completes it yet).
    const w = await startTestWorkers(h, { concurrency: 5 });
    try {
      completedId = await placeAndSettle(productId, 'tok_visa', 'completed', w);
    } finally {
      await w.stop();
    }
    const rc = await startTestWorkers(h, { queues: ['reserve', 'charge'] });
    try {
      reviewId = await placeAndSettle(productId, 'tok_riskLevelElevated', 'review', rc);
    } finally {
      await rc.stop();
    }
    expect((await s.order(completedId)).status).toBe('completed');

    const first = await page.goto(`${origin}/console`);
    expect(first?.url()).toBe(`${origin}/console/sign-in`);
    await checkPage(page, 'sign-in');
    // Keyboard only: Tab from the top of the page reaches the email field, then the password.
    for (let i = 0; i < 10 && !(await page.evaluate(`document.activeElement?.id === 'email'`)); i++) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.type(admin.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await Promise.all([page.waitForURL(`${origin}/console/orders`), page.keyboard.press('Enter')]);
    await page.locator('[data-live-state]', { hasText: 'Live updates: on' }).waitFor();
    await checkPage(page, 'orders');
  }, 60_000);

  test("finds the customer's orders by email, each with its full id; names render as text", async () => {
    await page.getByLabel('Customer email').fill(customer.email);
    await Promise.all([page.waitForURL(/email=/), page.getByRole('button', { name: 'Search' }).click()]);
    const ids = await page.locator('tbody tr[data-order-id] a.mono').allTextContents();
    expect(ids.sort()).toEqual([completedId, reviewId].sort());
    expect(await page.locator('.customer-name').first().textContent()).toBe(EVIL_CUSTOMER);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  test('opens one order: items, totals, timeline, risk, payment operations, job links', async () => {
    await Promise.all([
      page.waitForURL(`${origin}/console/orders/${completedId}`),
      page.getByRole('link', { name: completedId }).click(),
    ]);
    expect(await page.locator('.product-name').first().textContent()).toBe(EVIL_PRODUCT);
    expect(await page.locator(`[data-order-status="${completedId}"]`).first().textContent()).toBe(
      'completed',
    );
    expect(await page.locator('[data-timeline] tr').count()).toBeGreaterThanOrEqual(4);
    expect(await page.getByText('12.50 EUR').count()).toBeGreaterThan(0);
    expect(await page.locator('table', { hasText: 'Payment operations' }).getByText('charge').count()).toBe(
      1,
    );
    expect(
      await page.getByRole('link', { name: 'reserve job in the queue board' }).getAttribute('href'),
    ).toBe(`/admin/queues/queue/reserve/${completedId}-reserve`);
    await checkPage(page, 'order');
  });

  test('approves from the review queue (Tab to the button, Enter) and sees the order reach completed live', async () => {
    await page.goto(`${origin}/console/review`);
    const card = page.locator(`section[data-order-id="${reviewId}"]`);
    expect(await card.getByText('test_token_elevated').count()).toBe(1);
    await checkPage(page, 'review');
    // Keyboard: tab until the approve button of this order has focus, then Enter.
    const approve = `Approve ${reviewId}`;
    for (let i = 0; i < 60; i++) {
      if ((await page.evaluate('document.activeElement?.getAttribute("aria-label")')) === approve) break;
      await page.keyboard.press('Tab');
    }
    expect(await page.evaluate('document.activeElement?.getAttribute("aria-label")')).toBe(approve);
    await Promise.all([page.waitForURL(`${origin}/console/review`), page.keyboard.press('Enter')]);
    await page.getByText('Approved.').waitFor();
    // Open the order: no worker runs yet, so it waits in reserved until they start.
    await Promise.all([
      page.waitForURL(`${origin}/console/orders/${reviewId}`),
      page.locator('.notice').getByRole('link', { name: reviewId }).click(),
    ]);
    const status = page.locator(`[data-order-status="${reviewId}"]`).first();
    expect(await status.textContent()).toBe('reserved');
    await page.locator('[data-live-state]', { hasText: 'Live updates: on' }).waitFor();
    await page.evaluate('window.__sameDocument = true');
    const w = await startTestWorkers(h, { concurrency: 5 });
    try {
      await page
        .locator(`[data-order-status="${reviewId}"]`, { hasText: 'completed' })
        .first()
        .waitFor({ timeout: 20_000 });
      await page.locator('[data-timeline] td', { hasText: 'completed' }).first().waitFor();
    } finally {
      await w.stop();
    }
    // Seen without a reload: the page is the same document, and nothing from the data ran.
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(await page.locator('.product-name').first().textContent()).toBe(EVIL_PRODUCT);
    // The timeline names who approved it (this admin) and the steps Orderflow took itself.
    const approval = page.locator('[data-timeline] tr', { hasText: 'review' }).last();
    expect(await approval.locator('td').last().textContent()).toBe(`admin ${admin.email}`);
    expect(await page.locator('[data-timeline] tr').last().locator('td').last().textContent()).toBe('system');
  }, 60_000);

  test('refunds part of an order by amount, is told beside the form when asking too much, then refunds a line with restock', async () => {
    const s = shop(h, admin);
    await page.goto(`${origin}/console/orders/${completedId}`);
    expect(await page.locator('[data-left]').textContent()).toBe('12.50 EUR');
    await page.getByLabel(/^Amount/).fill('5.00');
    await page.locator('#refund-amount-reason').fill('scratched <b>mug</b>');
    await Promise.all([
      page.waitForURL(`${origin}/console/orders/${completedId}`),
      page.getByRole('button', { name: 'Refund amount' }).click(),
    ]);
    await page.getByText(/Refund rf_\S+ of 5\.00 EUR: succeeded\./).waitFor();
    expect(await page.locator('[data-refunded-cents]').getAttribute('data-refunded-cents')).toBe('500');
    expect(await page.locator('[data-left]').textContent()).toBe('7.50 EUR');
    expect((await s.order(completedId)) as unknown as { refundedCents: number }).toMatchObject({
      refundedCents: 500,
    });
    expect(await page.getByRole('cell', { name: 'scratched <b>mug</b>' }).count()).toBe(1);

    // More than is left: refused, said beside the amount form, nothing refunded.
    await page.getByLabel(/^Amount/).fill('10.00');
    await page.getByRole('button', { name: 'Refund amount' }).click();
    const error = page.locator('#refund-amount-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('at most 750 can still be refunded');
    expect((await s.order(completedId)) as unknown as { refundedCents: number }).toMatchObject({
      refundedCents: 500,
    });
    await checkPage(page, 'refunds');

    // By lines on the order approved from the queue: its one unit back in stock.
    const before = await s.stock(productId);
    await page.goto(`${origin}/console/orders/${reviewId}`);
    await page.getByLabel(/units to return/).fill('1');
    await Promise.all([
      page.waitForURL(`${origin}/console/orders/${reviewId}`),
      page.getByRole('button', { name: 'Refund lines' }).click(),
    ]);
    await page.getByText(/of 12\.50 EUR: succeeded\./).waitFor();
    expect(await page.locator('[data-refunded-cents]').getAttribute('data-refunded-cents')).toBe('1250');
    expect(await page.locator('[data-left]').textContent()).toBe('0.00 EUR');
    expect(await page.getByText('(0 of 1 left)').count()).toBe(1);
    expect((await s.stock(productId)).available).toBe(before.available + 1);
  }, 60_000);

  test('creates an API key (shown once), sees it listed with its scopes, deletes it', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.waitForURL(`${origin}/console/api-keys`);
    await page.getByLabel('Name').fill('ERP <b>sync</b>');
    await page.getByLabel('orders:read').check();
    await page.getByLabel('webhooks:manage').check();
    await Promise.all([
      page.waitForURL(`${origin}/console/api-keys`),
      page.getByRole('button', { name: 'Create key' }).click(),
    ]);
    const key = (await page.locator('#new-key').textContent()) ?? '';
    expect(key).toMatch(/^of_/);
    const row = page.locator('tr', { hasText: 'ERP <b>sync</b>' });
    expect(await row.locator('td').nth(2).textContent()).toBe('orders:read, webhooks:manage');
    expect(await row.locator('td').nth(4).textContent()).toBe('never');
    await checkPage(page, 'api-keys');
    // The key works against the API until it is deleted.
    expect((await h.json('GET', `/orders/${completedId}`, undefined, key)).status).toBe(200);
    const keyId = (await row.getAttribute('data-key-id')) ?? '';
    await Promise.all([
      page.waitForURL(`${origin}/console/api-keys`),
      row.getByRole('button', { name: /Delete key/ }).click(),
    ]);
    await page.getByText(`Key ${keyId} deleted.`).waitFor();
    expect(await page.locator(`tr[data-key-id="${keyId}"]`).count()).toBe(0);
    // Shown once: the list never carries the key again.
    expect(await page.content()).not.toContain(key);
    expect((await h.json('GET', `/orders/${completedId}`, undefined, key)).status).toBe(401);
    // Without a name or a scope nothing is made, and the page says why.
    await page.getByRole('button', { name: 'Create key' }).click();
    expect(await page.locator('tr[data-key-id]').count()).toBe(0);
  });

  test('the orders list follows new orders live: a notice counts them, the counts move, "Show them" lists them', async () => {
    await page.goto(`${origin}/console/orders?email=${encodeURIComponent(customer.email)}`);
    await page.locator('[data-live-state]', { hasText: 'Live updates: on' }).waitFor();
    const pending = Number(await page.locator('[data-count="pending"]').textContent());
    await page.evaluate('window.__sameDocument = true');
    // Placed through the API with no worker running: it stays pending.
    const id = await placeAndSettle(productId, 'tok_visa', 'pending', undefined);
    await page.getByText('1 new order since this page was opened.').waitFor();
    await page.locator('[data-count="pending"]', { hasText: String(pending + 1) }).waitFor();
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await Promise.all([page.waitForLoadState('load'), page.getByRole('link', { name: 'Show them' }).click()]);
    await page.locator(`tr[data-order-id="${id}"]`).waitFor();
    expect(await page.locator(`[data-order-status="${id}"]`).textContent()).toBe('pending');
  });

  test('adds a webhook endpoint (secret shown once), sees a delivery appear, retries it', async () => {
    // A stand-in for the customer's receiver: counts what it is sent.
    const received: string[] = [];
    const receiver = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        received.push(((await req.json()) as { type: string }).type);
        return new Response(null, { status: 204 });
      },
    });
    const w = await startTestWorkers(h, { concurrency: 5 });
    try {
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.waitForURL(`${origin}/console/webhooks`);
      const url = `http://127.0.0.1:${receiver.port}/hooks`;
      await page.getByLabel('URL').fill(url);
      await page.getByLabel('order.completed').check();
      await Promise.all([
        page.waitForURL(`${origin}/console/webhooks`),
        page.getByRole('button', { name: 'Add endpoint' }).click(),
      ]);
      expect(await page.locator('#new-secret').textContent()).toMatch(/^whsec_/);
      await checkPage(page, 'webhooks');
      await Promise.all([
        page.waitForURL(/\/console\/webhooks\/whe_/),
        page.getByRole('link', { name: url }).first().click(),
      ]);
      const id = await placeAndSettle(productId, 'tok_visa', 'completed', w);
      expect(id).toMatch(/^ord_/);
      const row = page.locator('tr[data-delivery-id]', { hasText: 'order.completed' }).first();
      await eventually(
        async () => {
          await page.reload();
          return (await row.count()) > 0 ? ((await row.locator('td').nth(2).textContent()) ?? '') : '';
        },
        (status) => status.startsWith('succeeded'),
        20_000,
      );
      expect(await row.locator('td').nth(3).textContent()).toBe('1');
      expect(await row.locator('td').nth(4).textContent()).toBe('HTTP 204');
      await checkPage(page, 'deliveries');
      const before = received.length;
      await Promise.all([
        page.waitForURL(/\/console\/webhooks\/whe_/),
        row.getByRole('button', { name: /Retry/ }).click(),
      ]);
      await page.getByText('Queued: it is sent again shortly.').waitFor();
      await eventually(
        async () => received.length,
        (n) => n === before + 1,
        20_000,
      );
      // Disable, then delete: the endpoint is gone from the list.
      await page.getByRole('link', { name: 'All endpoints' }).click();
      await page.getByRole('button', { name: `Disable ${url}` }).click();
      await page.getByText(`${url} is disabled.`).waitFor();
      await page.getByRole('button', { name: `Delete ${url}` }).click();
      await page.getByText('Endpoint deleted').waitFor();
      expect(await page.locator('tr[data-endpoint-id]').count()).toBe(0);
    } finally {
      await w.stop();
      await receiver.stop(true);
    }
  }, 90_000);

  test('signs out: the console is closed to this browser again', async () => {
    await Promise.all([
      page.waitForURL(`${origin}/console/sign-in`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.goto(`${origin}/console/orders`);
    expect(page.url()).toBe(`${origin}/console/sign-in`);
  });

  test('nothing outside the app was requested', () => {
    expect(outside).toEqual([]);
  });
});
