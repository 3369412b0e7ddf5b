import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, deleteKeys, type Harness } from './support/harness';
import { shop } from './support/shop';
import { type Receiver, startReceiver } from './support/webhook-receiver';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// Deliveries end to end: the workers' dispatcher turns the outbox into signed POSTs to real HTTP
// receivers on loopback (WEBHOOK_ALLOW_PRIVATE=on), which verify each with `standardwebhooks` and
// count deliveries per event id. Retries are shortened: 1 s, then 3 s, then failed (3 attempts).
let h: Harness;
let w: TestWorkers;
let admin: { id: string; token: string };
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;
const receivers: Receiver[] = [];

beforeAll(async () => {
  h = await createHarness({
    WEBHOOK_ALLOW_PRIVATE: 'on',
    WEBHOOK_RETRY_BASE_SECONDS: '1',
    WEBHOOK_MAX_ATTEMPTS: '3',
    WEBHOOK_TIMEOUT_MS: '1000',
    WEBHOOK_DISPATCH_EVERY_MS: '100',
    RECONCILE_AFTER_SECONDS: '2',
    RECONCILE_EVERY_MS: '500',
  });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
  w = await startTestWorkers(h);
}, 30_000);
afterAll(async () => {
  await w.stop();
  for (const r of receivers) await r.stop();
  await h.cleanup();
}, 30_000);

async function receiver(events: string[]): Promise<Receiver & { endpointId: string }> {
  const r = startReceiver();
  receivers.push(r);
  const res = await h.json('POST', '/webhook-endpoints', { url: r.url, events }, admin.token);
  expect(res.status).toBe(201);
  const body = (await res.json()) as { id: string; secret: string };
  expect(body.secret).toStartWith('whsec_');
  r.secret = body.secret;
  return Object.assign(r, { endpointId: body.id });
}

async function placeAndComplete(n: number): Promise<string[]> {
  const product = await s.product(1000);
  const ids = await Promise.all(
    Array.from(
      { length: n },
      async () => ((await (await s.place(user.token, product, 1)).json()) as { id: string }).id,
    ),
  );
  for (const id of ids)
    await eventually(
      () => s.order(id),
      (o) => o.status === 'completed',
      15_000,
    );
  return ids;
}

async function eventIdsOf(orderIds: string[], types?: string[]): Promise<string[]> {
  const [rows] = await h.pool.query(
    `SELECT id FROM events WHERE order_id IN (?)${types ? ' AND type IN (?)' : ''}`,
    types ? [orderIds, types] : [orderIds],
  );
  return (rows as { id: number }[]).map((r) => `evt_${r.id}`).sort();
}

async function deliveries(endpointId: string, query = '') {
  const res = await h.json(
    'GET',
    `/webhook-endpoints/${endpointId}/deliveries?limit=100${query}`,
    undefined,
    admin.token,
  );
  expect(res.status).toBe(200);
  return (
    (await res.json()) as {
      data: {
        id: string;
        eventId: string;
        status: string;
        attempts: number;
        lastStatusCode?: number;
        lastError?: string;
      }[];
    }
  ).data;
}

const idsSeenFor = (r: Receiver, eventIds: string[]) => eventIds.filter((id) => r.seen.has(id)).sort();

test('every event of completed orders reaches every subscribed endpoint, verified, once per event id at least', async () => {
  const all = await receiver(['*']);
  const completedOnly = await receiver(['order.completed']);
  const orders = await placeAndComplete(4);
  const written = await eventIdsOf(orders);
  const completed = await eventIdsOf(orders, ['order.completed']);
  expect(written.length).toBe(16);
  await eventually(
    async () => [idsSeenFor(all, written).length, idsSeenFor(completedOnly, completed).length],
    ([a, c]) => a === written.length && c === completed.length,
  );
  expect(idsSeenFor(all, written)).toEqual(written);
  // The filter holds: nothing but order.completed reached the second endpoint.
  expect([...completedOnly.seen.keys()].sort()).toEqual(completed);
  expect(all.badSignatures + completedOnly.badSignatures).toBe(0);
  const body = all.bodies.find((b) => b.type === 'order.completed');
  expect(body?.data.status).toBe('completed');
  await eventually(
    () => deliveries(all.endpointId),
    (d) => d.length === 16 && d.every((x) => x.status === 'succeeded'),
  );
}, 60_000);

test('an endpoint answering 500 and then 200: retried, then succeeded', async () => {
  const flaky = await receiver(['order.completed']);
  flaky.answer = (nth) => new Response(nth === 1 ? 'boom' : 'ok', { status: nth === 1 ? 500 : 200 });
  const [order] = await placeAndComplete(1);
  const [eventId] = await eventIdsOf([order as string], ['order.completed']);
  const [d] = await eventually(
    () => deliveries(flaky.endpointId),
    (list) => list[0]?.status === 'succeeded',
  );
  expect(d).toMatchObject({ eventId, status: 'succeeded', attempts: 2, lastStatusCode: 200 });
  expect(flaky.seen.get(eventId as string)).toBe(2);
}, 30_000);

test('an endpoint that never answers times out, and the orders of the same run complete on time', async () => {
  const silent = await receiver(['*']);
  silent.answer = () => new Promise<Response>(() => {});
  const fine = await receiver(['order.completed']);
  const started = Date.now();
  const orders = await placeAndComplete(5);
  expect(Date.now() - started).toBeLessThan(10_000);
  const completed = await eventIdsOf(orders, ['order.completed']);
  // The other endpoint is not held up by the silent one either.
  await eventually(
    async () => idsSeenFor(fine, completed).length,
    (n) => n === completed.length,
    10_000,
  );
  const timedOut = await eventually(
    () => deliveries(silent.endpointId),
    (list) => list.some((x) => x.attempts >= 1 && /no answer within 1000 ms/.test(x.lastError ?? '')),
  );
  expect(timedOut.length).toBeGreaterThan(0);
}, 60_000);

test('an endpoint that disappears is disabled after failing for the whole (shortened) retry window', async () => {
  const gone = await receiver(['order.completed']);
  await gone.stop();
  await placeAndComplete(1);
  const endpoint = await eventually(
    async () =>
      (await (
        await h.json('GET', `/webhook-endpoints/${gone.endpointId}`, undefined, admin.token)
      ).json()) as { status: string; disabledReason?: string },
    (e) => e.status === 'disabled',
    20_000,
  );
  expect(endpoint.disabledReason).toContain('every delivery failed for 4 s');
  const [d] = await deliveries(gone.endpointId);
  expect(d).toMatchObject({ status: 'failed', attempts: 3 });
}, 30_000);

test('Redis wiped mid-delivery: every event is still delivered', async () => {
  const slow = await receiver(['*']);
  slow.answer = async () => {
    await Bun.sleep(150);
    return new Response('ok');
  };
  const orders = await placeAndComplete(4);
  const written = await eventIdsOf(orders);
  // Some deliveries made, most still queued behind the slow receiver's concurrency limit: wipe Redis.
  await eventually(
    async () => idsSeenFor(slow, written).length,
    (n) => n >= 1,
    10_000,
  );
  expect(idsSeenFor(slow, written).length).toBeLessThan(written.length);
  await deleteKeys(h.redis, h.prefix);
  await eventually(
    async () => idsSeenFor(slow, written).length,
    (n) => n === written.length,
    30_000,
  );
  expect(slow.badSignatures).toBe(0);
}, 60_000);

test('a delivery retried on request is sent again', async () => {
  const r = await receiver(['order.completed']);
  const [order] = await placeAndComplete(1);
  const [eventId] = await eventIdsOf([order as string], ['order.completed']);
  const [d] = await eventually(
    () => deliveries(r.endpointId),
    (l) => l[0]?.status === 'succeeded',
  );
  const res = await h.json('POST', `/webhook-deliveries/${d?.id}/retry`, undefined, admin.token);
  expect(res.status).toBe(202);
  await eventually(
    async () => r.seen.get(eventId as string),
    (n) => n === 2,
  );
  const [after] = await eventually(
    () => deliveries(r.endpointId),
    (l) => l[0]?.attempts === 2,
  );
  expect(after?.status).toBe('succeeded');
}, 30_000);

test('a deleted endpoint is sent nothing more', async () => {
  const r = await receiver(['order.completed']);
  const del = await h.json('DELETE', `/webhook-endpoints/${r.endpointId}`, undefined, admin.token);
  expect(del.status).toBe(204);
  const control = await receiver(['order.completed']);
  const orders = await placeAndComplete(2);
  const completed = await eventIdsOf(orders, ['order.completed']);
  await eventually(
    async () => idsSeenFor(control, completed).length,
    (n) => n === completed.length,
  );
  expect(r.requests).toBe(0);
  expect((await h.json('GET', `/webhook-endpoints/${r.endpointId}`, undefined, admin.token)).status).toBe(
    404,
  );
}, 30_000);
