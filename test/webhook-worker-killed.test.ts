import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { type Spawned, spawnBun } from './support/processes';
import { shop } from './support/shop';
import { type Receiver, startReceiver } from './support/webhook-receiver';
import { eventually } from './support/workers';

// A worker process killed (SIGKILL) while its delivery's POST is in flight: the attempt was never
// recorded, so the delivery is still owed; another worker process takes the job back once its lock
// runs out, sends it again and records it once.
let h: Harness;
let r: Receiver;
const procs: Spawned[] = [];

beforeAll(async () => {
  h = await createHarness({ WEBHOOK_ALLOW_PRIVATE: 'on' });
}, 30_000);
afterAll(async () => {
  for (const p of procs) p.proc.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.proc.exited));
  await r?.stop();
  await h.cleanup();
}, 30_000);

const worker = () => {
  const c = h.config;
  const p = spawnBun(['run', 'workers/main.ts', '--queues', 'webhooks'], {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: c.DATABASE_URL,
    REDIS_URL: c.REDIS_URL,
    QUEUE_PREFIX: c.QUEUE_PREFIX,
    JWT_SECRET: c.jwtSecret,
    WEBHOOK_ALLOW_PRIVATE: 'on',
    WEBHOOK_DISPATCH_EVERY_MS: '100',
    // A killed process's job comes back after one lock period.
    WORKER_LOCK_MS: '2000',
    WORKER_STALLED_INTERVAL_MS: '1000',
  });
  procs.push(p);
  return p;
};

test('a worker killed mid-delivery: the event is still delivered, and the attempt recorded once', async () => {
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  r = startReceiver();
  // The first POST never gets an answer (the worker dies waiting); later ones succeed.
  r.answer = (nth) => (nth === 1 ? new Promise<Response>(() => {}) : new Response('ok'));
  const res = await h.json(
    'POST',
    '/webhook-endpoints',
    { url: r.url, events: ['order.created'] },
    admin.token,
  );
  r.secret = ((await res.clone().json()) as { secret: string }).secret;
  expect(res.status).toBe(201);

  const first = worker();
  await s.place(user.token, await s.product(5), 1);
  await eventually(
    async () => r.requests,
    (n) => n === 1,
    30_000,
  );
  first.proc.kill('SIGKILL');
  await first.proc.exited;
  worker();
  const [row] = await eventually(
    async () => {
      const [rows] = await h.pool.query(
        'SELECT status, attempts, event_id AS eventId FROM webhook_deliveries',
      );
      return rows as { status: string; attempts: number; eventId: number }[];
    },
    (rows) => rows[0]?.status === 'succeeded',
    30_000,
  );
  expect(row?.attempts).toBe(1);
  expect(r.seen.get(`evt_${row?.eventId}`)).toBe(2);
  expect(r.badSignatures).toBe(0);
}, 60_000);
