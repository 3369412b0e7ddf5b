import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { PoolConnection } from 'mysql2/promise';
import { createHarness, type Harness } from './support/harness';
import { eventually } from './support/workers';

// A pool whose connections are all taken answers with a clear 503 problem, never a request that hangs:
// mysql2 alone queues a caller without a time limit (db/client.ts bounds it).
let h: Harness;
let user: { id: string; token: string };

beforeAll(async () => {
  h = await createHarness({
    DATABASE_POOL_SIZE: '2',
    DATABASE_POOL_ACQUIRE_TIMEOUT_MS: '1000',
    DATABASE_POOL_QUEUE_LIMIT: '2',
  });
  user = await h.signUp('user');
});
afterAll(async () => {
  await h.cleanup();
});

const ordersOfUser = () => h.json('GET', `/orders/user/${user.id}`, undefined, user.token);

/** Takes every connection of the API's pool for the length of `fn` (as jammed callers would). */
async function withPoolTaken(fn: () => Promise<void>) {
  const held: PoolConnection[] = [];
  for (let i = 0; i < h.config.DATABASE_POOL_SIZE; i++) held.push(await h.pool.getConnection());
  try {
    await fn();
  } finally {
    for (const c of held) c.release();
  }
}

async function expectPoolProblem(res: Response) {
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.headers.get('retry-after')).toBe('5');
  const body = (await res.json()) as { status: number; detail: string };
  expect(body.status).toBe(503);
}

test('a request that finds no free connection within the acquire timeout gets a 503 problem', async () => {
  expect((await ordersOfUser()).status).toBe(200);
  await withPoolTaken(async () => {
    const started = performance.now();
    const res = await ordersOfUser();
    const ms = performance.now() - started;
    await expectPoolProblem(res);
    // It waited for the acquire timeout (1 s: a lower bound, which no slow machine can break), and
    // got its answer while every connection was still held: the timeout answered it, not a freed
    // connection, and not never (the test's own deadline).
    expect(ms).toBeGreaterThanOrEqual(900);
  });
  // Connections free again: the same pool answers at once.
  expect((await ordersOfUser()).status).toBe(200);
}, 30_000);

test('past the queue limit a request is refused at once, without waiting', async () => {
  await withPoolTaken(async () => {
    // Two requests wait for a connection: the queue is full.
    let enqueued = 0;
    const counted = () => enqueued++;
    h.pool.on('enqueue', counted);
    let answeredWaiting = 0;
    const waiting = [ordersOfUser(), ordersOfUser()].map((p) => p.finally(() => answeredWaiting++));
    await eventually(() => enqueued >= 2, 'two requests queued for a connection', 5000);
    h.pool.off('enqueue', counted);
    const res = await ordersOfUser();
    // Refused at once: while the two queued before it still wait for their acquire timeout.
    expect(answeredWaiting).toBe(0);
    await expectPoolProblem(res);
    for (const queued of await Promise.all(waiting)) await expectPoolProblem(queued);
  });
  expect((await ordersOfUser()).status).toBe(200);
}, 30_000);
