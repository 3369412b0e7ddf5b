import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { expectProblem } from './support/problems';

let h: Harness;
let admin: { token: string };

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
});
afterAll(() => h.cleanup());

const unknown = 'unknown_0123456789';

/**
 * One request per route that names a resource, aimed at one that does not exist, sent by an admin
 * (so a 403 never hides the 404) with a body that is otherwise valid (so a 400 never does).
 * Routes of the contract that other work is still adding are listed too: they are checked once served.
 */
const cases: Record<string, { path: string; body?: unknown }> = {
  'GET /auth/user/{id}': { path: `/auth/user/${unknown}` },
  'GET /products/{id}': { path: `/products/${unknown}` },
  'GET /inventory/{productId}': { path: `/inventory/${unknown}` },
  'PUT /inventory/{productId}/update': { path: `/inventory/${unknown}/update`, body: { delta: 1 } },
  'GET /orders/{id}': { path: `/orders/${unknown}` },
  'PUT /orders/{id}/cancel': { path: `/orders/${unknown}/cancel` },
  'GET /orders/{id}/events': { path: `/orders/${unknown}/events` },
  'GET /orders/user/{userId}': { path: `/orders/user/${unknown}` },
  'POST /orders/{id}/review': { path: `/orders/${unknown}/review`, body: { decision: 'approve' } },
  'POST /payment': { path: '/payment', body: { orderId: unknown, token: 'tok_visa' } },
  'GET /payment/status/{orderId}': { path: `/payment/status/${unknown}` },
  'GET /notify/{id}': { path: `/notify/${unknown}` },
  'DELETE /api-keys/{id}': { path: `/api-keys/${unknown}` },
  'POST /orders/{id}/refunds': { path: `/orders/${unknown}/refunds`, body: { amountCents: 100 } },
  'GET /orders/{id}/refunds': { path: `/orders/${unknown}/refunds` },
  'GET /webhook-endpoints/{id}': { path: `/webhook-endpoints/${unknown}` },
  'PATCH /webhook-endpoints/{id}': { path: `/webhook-endpoints/${unknown}`, body: { status: 'disabled' } },
  'DELETE /webhook-endpoints/{id}': { path: `/webhook-endpoints/${unknown}` },
  'GET /webhook-endpoints/{id}/deliveries': { path: `/webhook-endpoints/${unknown}/deliveries` },
  'POST /webhook-deliveries/{id}/retry': { path: `/webhook-deliveries/${unknown}/retry` },
};

async function documentedRoutes(): Promise<string[]> {
  const doc = (await (await h.app.request('/openapi.json')).json()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
  );
}

test('every route that takes an id has a case here', async () => {
  const withId = (await documentedRoutes()).filter((r) => r.includes('{'));
  expect(withId.length).toBeGreaterThan(8);
  expect(withId.filter((r) => !(r in cases))).toEqual([]);
});

test('an unknown id answers 404 problem+json on every route that takes one', async () => {
  const served = new Set(await documentedRoutes());
  const checked: string[] = [];
  for (const [route, c] of Object.entries(cases)) {
    if (!served.has(route)) continue;
    const method = route.split(' ')[0] as string;
    const res = await h.json(method, c.path, c.body, admin.token);
    if (res.status !== 404) throw new Error(`${route} answered ${res.status}: ${await res.text()}`);
    await expectProblem(res, 404);
    checked.push(route);
  }
  expect(checked.length).toBeGreaterThan(8);
});
