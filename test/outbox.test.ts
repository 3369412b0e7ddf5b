import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Transports } from '../domain/notifications/notifications';
import type { EmailMessage, SendResult, SmsMessage } from '../domain/notifications/transports';
import { createLogger } from '../lib/logger';
import { createRedis } from '../queues/connection';
import type { QueueName } from '../queues/contract';
import { buildWorkerDeps } from '../workers/deps';
import { reconcile } from '../workers/reconcile';
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
