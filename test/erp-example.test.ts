import { afterAll, beforeAll, expect, test } from 'bun:test';
import { startErp } from '../examples/erp';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// examples/erp.ts against a live server (the app on a real socket, workers running): its key, its
// webhook endpoint and receiver, orders placed by customers, an outage, and the catch-up by GET /events.
let h: Harness;
let w: TestWorkers;
let server: ReturnType<typeof Bun.serve>;
let admin: { email: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({
    WEBHOOK_ALLOW_PRIVATE: 'on',
    WEBHOOK_RETRY_BASE_SECONDS: '1',
    WEBHOOK_DISPATCH_EVERY_MS: '100',
  });
  admin = await h.signUp('admin');
  s = shop(h, admin);
  w = await startTestWorkers(h, { concurrency: 5 });
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: h.app.fetch });
}, 30_000);
afterAll(async () => {
  await server?.stop(true);
  await w?.stop();
  await h?.cleanup();
}, 30_000);

test('the ERP hears of completed orders by signed webhook, and after an outage catches up through GET /events', async () => {
  const erp = await startErp({
    baseUrl: `http://127.0.0.1:${server.port}`,
    adminEmail: admin.email,
    adminPassword: 'correct horse battery',
  });
  const product = await s.product(100);
  const customer = await h.signUp('user');
  const buy = async () => ((await (await s.place(customer.token, product, 1)).json()) as { id: string }).id;
  const first = [await buy(), await buy(), await buy()];
  await erp.waitFor(first);
  expect(first.map((id) => erp.completed.get(id)?.via)).toEqual(['webhook', 'webhook', 'webhook']);

  await erp.goOffline();
  const missed = [await buy(), await buy()];
  for (const id of missed)
    await eventually(
      () => erp.status(id),
      (st) => st === 'completed',
    );
  expect(missed.some((id) => erp.completed.has(id))).toBe(false);
  const learnt = await erp.catchUp();
  expect(learnt.sort()).toEqual([...missed].sort());
  expect(erp.rejected).toBe(0);
  // Nothing else: only the orders of this story completed.
  expect([...erp.completed.keys()].sort()).toEqual([...first, ...missed].sort());
  await erp.stop();
}, 60_000);
