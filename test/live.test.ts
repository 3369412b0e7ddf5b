import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { parseSseBlock, type SseEvent } from './support/live';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers | undefined;
let admin: { token: string };
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({ GATEWAY_LATENCY_MS: '100', EMAIL_RATE_MAX: '1000' });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
});
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
});

/** Reads a whole SSE response (it ends when the server closes the stream). */
async function readEvents(res: Response): Promise<SseEvent[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('data:'))
    .map(parseSseBlock);
}

test('the event stream follows an order from pending to completed, then closes', async () => {
  const p = await s.product(5);
  const { id } = (await (await s.place(user.token, p, 1)).json()) as { id: string };
  const res = await h.json('GET', `/orders/${id}/events`, undefined, user.token);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reading = readEvents(res);
  // Workers start only once the stream is open and subscribed, so every change happens while it is followed.
  await eventually(
    () => h.live.slots.open === 1 && h.live.hub.status.connected && h.live.hub.status.pending === 0,
    'the stream open and subscribed',
    10_000,
  );
  w = await startTestWorkers(h, { concurrency: 5 });
  const events = await reading;
  expect(events[0]).toEqual({ event: 'status', data: { status: 'pending', at: expect.any(String) } });
  expect(events.slice(1).map((e) => [e.event, e.data.from, e.data.to])).toEqual([
    ['change', 'pending', 'reserved'],
    ['change', 'reserved', 'paid'],
    ['change', 'paid', 'completed'],
  ]);
}, 30_000);

test('a final order sends its status and closes at once; others may not follow it', async () => {
  const p = await s.product(0);
  const { id } = (await (await s.place(user.token, p, 1)).json()) as { id: string };
  await eventually(
    async () => (await s.order(id)).status,
    (st) => st === 'rejected',
    10_000,
    'the order rejected',
  );
  const events = await readEvents(await h.json('GET', `/orders/${id}/events`, undefined, user.token));
  expect(events).toEqual([{ event: 'status', data: { status: 'rejected', at: expect.any(String) } }]);
  const other = await h.signUp('user');
  expect((await h.json('GET', `/orders/${id}/events`, undefined, other.token)).status).toBe(403);
  expect((await h.json('GET', `/orders/${id}/events`)).status).toBe(401);
  expect((await h.json('GET', '/orders/ord_doesnotexist/events', undefined, user.token)).status).toBe(404);
  expect((await h.json('GET', '/orders/not%20an%20id/events', undefined, user.token)).status).toBe(400);
  // Refused requests hold no live slot.
  expect(h.live.slots.open).toBe(0);
}, 30_000);
