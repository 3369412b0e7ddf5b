import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Job } from 'bullmq';
import type { Transports } from '../domain/notifications/notifications';
import type { EmailMessage, SendResult, SmsMessage } from '../domain/notifications/transports';
import { reserveOrder } from '../domain/orders/reserve-one';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import type { QueueName } from '../queues/contract';
import { buildWorkerDeps, type WorkerDeps } from '../workers/deps';
import { notifyProcessor } from '../workers/notify';
import { reconcile } from '../workers/reconcile';
import { reserveProcessor } from '../workers/reserve';
import { type TcpProxy, tcpProxy } from './support/faults';
import { createHarness, deleteKeys, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers } from './support/workers';

// The customer's message about a cancel or an expiry is written in the transaction of that transition
// (an outbox); the queue only delivers it. Here Redis is unreachable at the transition, and comes back
// empty: only MySQL remembers the message, and the reconciler delivers it.
let h: Harness;
let proxy: TcpProxy;
let direct: Harness['redis'];
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;

/** Provider stand-ins that count every send, per message (the message id is the idempotency key). */
const sends = new Map<string, number>();
const count = async (msg: EmailMessage | SmsMessage): Promise<SendResult> => {
  sends.set(msg.idempotencyKey, (sends.get(msg.idempotencyKey) ?? 0) + 1);
  return { providerRef: `test_${msg.idempotencyKey}` };
};
const transports: Transports = { email: { name: 'count', send: count }, sms: { name: 'count', send: count } };

beforeAll(async () => {
  const base = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  proxy = await tcpProxy(base);
  // The API and the workers reach Redis through the proxy; the test keeps a direct line to it.
  h = await createHarness({
    REDIS_URL: proxy.url,
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
    RESERVATION_TTL_SECONDS: '1',
    RECONCILE_AFTER_SECONDS: '1',
    RECONCILE_EVERY_MS: '300',
  });
  direct = createRedis(base, 'producer', 'orderflow-test-direct');
  direct.on('error', () => {});
  const admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
});
afterAll(async () => {
  await proxy.restore();
  direct.disconnect();
  await h.cleanup();
});

async function runUntil(queues: QueueName[], done: () => Promise<boolean>) {
  const w = await startTestWorkers(h, { queues, concurrency: 5, transports });
  try {
    await eventually(done, Boolean, 30_000);
  } finally {
    await w.stop();
  }
}

async function messagesOf(orderId: string) {
  const [rows] = await h.pool.query(
    'SELECT id, status, dedupe_key AS dedupeKey FROM notifications WHERE order_id = ?',
    [orderId],
  );
  return rows as { id: string; status: string; dedupeKey: string }[];
}

const statusOf = async (id: string) => (await s.order(id)).status;

test('Redis unreachable at a cancel and at an expiry: the messages are written with the transitions, and delivered once it is back', async () => {
  const p = await s.product(10, 1000);
  const paid = ((await (await s.place(user.token, p, 1)).json()) as { id: string }).id;
  const unpaid = ((await (await s.place(user.token, p, 1, null)).json()) as { id: string }).id;
  await runUntil(['reserve', 'charge'], async () => {
    return (await statusOf(paid)) === 'paid' && (await statusOf(unpaid)) === 'reserved';
  });

  // Redis goes away for the API and the workers.
  await proxy.cut();
  await eventually(
    async () => h.redis.status,
    (status) => status !== 'ready',
  );

  // The customer cancels the paid order: it is cancelled and refunded, and the message is on record.
  const cancel = await h.json('PUT', `/orders/${paid}/cancel`, undefined, user.token);
  expect(cancel.status).toBe(200);
  expect((await s.payment(paid)).status).toBe('refunded');
  expect(await messagesOf(paid)).toEqual([
    expect.objectContaining({ dedupeKey: `${paid}:cancelled:email`, status: 'queued' }),
  ]);

  // The unpaid hold runs out while the reconciler cannot queue anything: the expiry commits with its
  // message, and handing it to the queue fails.
  const deps = buildWorkerDeps(h.config, { db: h.db, redis: h.redis }, createLogger('silent'), {
    queues: h.deps.queues,
    transports,
  });
  await Bun.sleep(1100);
  await expect(reconcile(deps)).rejects.toThrow(/Redis is not reachable/);
  expect((await s.order(unpaid)).failureReason).toBe('reservation_expired');
  expect(await messagesOf(unpaid)).toEqual([
    expect.objectContaining({ dedupeKey: `${unpaid}:cancelled:email`, status: 'queued' }),
  ]);
  expect(sends.size).toBe(0);

  // Redis is back, but empty (restarted without its data): the flows' own jobs are gone.
  await deleteKeys(direct, h.prefix);
  await proxy.restore();
  await eventually(
    async () => h.redis.status,
    (status) => status === 'ready',
  );

  // Only the reconciler can deliver them now: it re-sends the queued rows, each once.
  const ids = [...(await messagesOf(paid)), ...(await messagesOf(unpaid))].map((m) => m.id);
  await runUntil(['deliver', 'maintenance'], async () => {
    const rows = [...(await messagesOf(paid)), ...(await messagesOf(unpaid))];
    return rows.every((m) => m.status === 'sent');
  });
  expect(ids.map((id) => sends.get(id) ?? 0)).toEqual([1, 1]);
  expect(sends.size).toBe(2);
}, 90_000);

/** Worker dependencies whose queue producer goes through the proxy (so a cut reaches it). */
const workerDeps = (): WorkerDeps =>
  buildWorkerDeps(h.config, { db: h.db, redis: h.redis }, createLogger('silent'), {
    queues: h.deps.queues,
    transports,
  });

/** A job as BullMQ hands it to a processor: a lone one (no parent), first of several attempts. */
const loneJob = (orderId: string) =>
  ({ id: `test-${orderId}`, data: { orderId }, attemptsMade: 0, opts: { attempts: 5 } }) as unknown as Job;

async function cutRedis() {
  await proxy.cut();
  await eventually(
    async () => h.redis.status,
    (status) => status !== 'ready',
  );
}

/** Redis comes back empty: whatever the flows had queued is gone, only MySQL remembers. */
async function restoreEmptyRedis() {
  await deleteKeys(direct, h.prefix);
  await proxy.restore();
  await eventually(
    async () => h.redis.status,
    (status) => status === 'ready',
  );
}

/** The reconciler alone delivers the queued rows; returns how often the provider got each. */
async function deliverByReconciler(orderIds: string[]) {
  const all = async () => (await Promise.all(orderIds.map(messagesOf))).flat();
  await runUntil(['deliver', 'maintenance'], async () => (await all()).every((m) => m.status === 'sent'));
  return (await all()).map((m) => sends.get(m.id) ?? 0);
}

test('a lone reserve job that rejects an order writes the message with the rejection: Redis cut then, it is delivered later, once', async () => {
  const p = await s.product(1);
  // Unpaid orders (pay later) run a lone reserve job, with no notify step after it.
  const viaWorker = ((await (await s.place(user.token, p, 2, null)).json()) as { id: string }).id;
  const viaSingle = ((await (await s.place(user.token, p, 3, null)).json()) as { id: string }).id;
  const deps = workerDeps();

  await cutRedis();
  try {
    // The worker's path (a batch of one): the rejection commits, handing its message on fails.
    await expect(reserveProcessor(deps)(loneJob(viaWorker))).rejects.toThrow(/Redis is not reachable/);
    // The one-at-a-time path a failed batch falls back to writes it the same way.
    expect(await reserveOrder(deps.orders, viaSingle)).toEqual({
      status: 'rejected',
      changed: true,
      messages: [expect.any(String)],
    });
    for (const id of [viaWorker, viaSingle]) {
      expect((await s.order(id)).status).toBe('rejected');
      expect(await messagesOf(id)).toEqual([
        expect.objectContaining({ dedupeKey: `${id}:rejected:email`, status: 'queued' }),
      ]);
    }
    // A retry of the job finds the order rejected already: it has nothing more to say.
    await expect(reserveProcessor(deps)(loneJob(viaWorker))).resolves.toEqual({
      status: 'rejected',
      changed: false,
    });
  } finally {
    await restoreEmptyRedis();
  }
  expect(await deliverByReconciler([viaWorker, viaSingle])).toEqual([1, 1]);
}, 90_000);

test('notify completes an order and writes its message in one transaction: a failed write leaves it paid; Redis cut after the commit, the message is delivered later, once', async () => {
  const p = await s.product(5);
  const id = ((await (await s.place(user.token, p, 1)).json()) as { id: string }).id;
  await runUntil(['reserve', 'charge'], async () => (await statusOf(id)) === 'paid');
  const deps = workerDeps();

  // The message row cannot be written (a real MySQL error, raised by a trigger): the batch fails, and
  // so does the one-order path it falls back to. Neither may leave the order completed without it.
  await h.pool.query(
    "CREATE TRIGGER fail_messages BEFORE INSERT ON notifications FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected: no message rows'",
  );
  try {
    await expect(notifyProcessor(deps)(loneJob(id))).rejects.toThrow(/insert into `notifications`/);
  } finally {
    await h.pool.query('DROP TRIGGER fail_messages');
  }
  expect((await s.order(id)).status).toBe('paid');
  expect(await messagesOf(id)).toEqual([]);

  // Redis goes away: the completion commits with its message, handing it to the queue fails.
  await cutRedis();
  try {
    await expect(notifyProcessor(deps)(loneJob(id))).rejects.toThrow(/Redis is not reachable/);
    expect((await s.order(id)).status).toBe('completed');
    expect(await messagesOf(id)).toEqual([
      expect.objectContaining({ dedupeKey: `${id}:completed:email`, status: 'queued' }),
    ]);
  } finally {
    await restoreEmptyRedis();
  }
  expect(await deliverByReconciler([id])).toEqual([1]);
}, 90_000);
