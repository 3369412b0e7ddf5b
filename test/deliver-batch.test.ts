import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Transports } from '../domain/notifications/notifications';
import {
  type EmailMessage,
  PermanentSendError,
  type SendResult,
  type SmsMessage,
  TransientSendError,
} from '../domain/notifications/transports';
import { chargeOrders } from '../domain/orders/charge-batch';
import { reserveOrders } from '../domain/orders/reserve-batch';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { jobNames, ORDER_MESSAGE_PRIORITY } from '../queues/contract';
import { buildWorkerDeps, type WorkerDeps } from '../workers/deps';
import { notifyBatcher } from '../workers/notify';
import { reconcile } from '../workers/reconcile';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers } from './support/workers';

// A notify batch hands all of its messages to `deliver` as one job. These tests count what reaches the
// provider (a stand-in behind the transport port) per message: once, however the job is retried or
// the reconciler looks at it.

/** Provider stand-in: counts every call per message (its id is the idempotency key), may fail some. */
class Provider implements Transports {
  readonly calls = new Map<string, number>();
  /** Messages whose next call fails with a transient error (then succeeds). */
  readonly flaky = new Set<string>();
  /** Messages the provider refuses for good, and messages it never answers but with a 503. */
  readonly refused = new Set<string>();
  readonly down = new Set<string>();
  readonly email = { name: 'stand-in', send: (m: EmailMessage) => this.send(m) };
  readonly sms = { name: 'stand-in', send: (m: SmsMessage) => this.send(m) };

  private async send(msg: EmailMessage | SmsMessage): Promise<SendResult> {
    const key = msg.idempotencyKey;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    if (this.flaky.delete(key) || this.down.has(key)) throw new TransientSendError('provider answered 503');
    if (this.refused.has(key)) throw new PermanentSendError('provider refused the address');
    return { providerRef: `ref_${key}_${this.calls.get(key)}` };
  }

  callsOf(ids: string[]): number[] {
    return ids.map((id) => this.calls.get(id) ?? 0);
  }
}

let h: Harness;
let s: ReturnType<typeof shop>;
let user: { token: string };
let deps: WorkerDeps;
const provider = new Provider();
const redis = createRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker', 'deliver-batch');
redis.on('error', () => {});

beforeAll(async () => {
  h = await createHarness({ JOB_BACKOFF_MS: '50', JOB_ATTEMPTS: '4', EMAIL_RATE_MAX: '1000' });
  s = shop(h, await h.signUp('admin'));
  // With a phone: every order has an email and an SMS, both in the batch.
  user = await h.signUp('user', '+14155550123');
  // A notify batch waits long enough for every submission of a test to join it.
  deps = buildWorkerDeps(
    { ...h.config, GROUP_COMMIT_MAX: 100, GROUP_COMMIT_WAIT_MS: 300 },
    { db: h.db, redis },
    createLogger('silent'),
    { transports: provider },
  );
});
afterAll(async () => {
  await deps.queues.close();
  redis.disconnect();
  await h.cleanup();
});

/** `n` paid orders, their flows' steps run by the test (no saga workers here), then notified in one batch. */
async function notifiedBatch(n: number): Promise<{ orders: string[]; messages: string[]; sendJob: string }> {
  const p = await s.product(n);
  const orders: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await h.json(
      'POST',
      '/orders',
      { items: [{ productId: p, quantity: 1 }], payment: { token: 'tok_visa' } },
      user.token,
    );
    expect(res.status).toBe(202);
    orders.push(((await res.json()) as { id: string }).id);
  }
  // The steps are the test's to run: the flows the API added go (the reconciler would wait for them).
  for (const id of orders) await h.deps.queues.clearFinishedJobs(id);
  await reserveOrders(deps.orders, orders);
  await chargeOrders(deps.orders, orders);
  const batcher = notifyBatcher(deps);
  const done = await Promise.all(orders.map((id) => batcher.submit(id)));
  expect(done.every((r) => r.status === 'completed')).toBe(true);
  const rows = await messagesOf(orders);
  expect(rows).toHaveLength(2 * n);
  const jobs = new Set(rows.map((r) => r.sendJob));
  expect(jobs.size).toBe(1);
  return { orders, messages: rows.map((r) => r.id), sendJob: rows[0]?.sendJob as string };
}

async function messagesOf(orders: string[]) {
  const [rows] = await h.pool.query(
    'SELECT id, status, attempts, send_job AS sendJob FROM notifications WHERE order_id IN (?) ORDER BY id',
    [orders],
  );
  return rows as { id: string; status: string; attempts: number; sendJob: string | null }[];
}

/** Every job on `deliver` that concerns these messages: their batch's, and any job of a message's own. */
async function deliverJobs(sendJob: string, messages: string[]) {
  const q = h.deps.queues.queues.deliver;
  const own = await Promise.all(messages.map((id) => q.getJobState(`${id}-send`)));
  return { batch: await q.getJobState(sendJob), own: own.filter((st) => st !== 'unknown').length };
}

async function deliverUntilSent(
  orders: string[],
  done: (status: string) => boolean = (status) => status === 'sent',
) {
  const w = await startTestWorkers(h, { queues: ['deliver'], transports: provider });
  try {
    return await eventually(
      () => messagesOf(orders),
      (rows) => rows.every((r) => done(r.status)),
    );
  } finally {
    await w.stop();
  }
}

/** Makes messages look older than RECONCILE_AFTER_SECONDS, as if nothing had happened to them since. */
const makeStale = (ids: string[]) =>
  h.pool.query('UPDATE notifications SET updated_at = NOW(3) - INTERVAL 1 HOUR WHERE id IN (?)', [ids]);

describe('one deliver job per notify batch', () => {
  test('a notify batch of 12 orders adds exactly one deliver job, and every message is sent once', async () => {
    const before = await h.deps.queues.queues.deliver.getJobCountByTypes('prioritized', 'waiting');
    const { orders, messages, sendJob } = await notifiedBatch(12);
    // One job for the 24 messages (12 emails, 12 SMS), in the order messages' lane, none of their own.
    expect(await h.deps.queues.queues.deliver.getJobCountByTypes('prioritized', 'waiting')).toBe(before + 1);
    const job = await h.deps.queues.queues.deliver.getJob(sendJob);
    expect(job?.name).toBe(jobNames.sendBatch);
    expect(job?.opts.priority).toBe(ORDER_MESSAGE_PRIORITY);
    expect((await deliverJobs(sendJob, messages)).own).toBe(0);

    const rows = await deliverUntilSent(orders);
    expect(provider.callsOf(messages)).toEqual(messages.map(() => 1));
    expect(rows.every((r) => r.attempts === 1)).toBe(true);
    expect(await h.deps.queues.queues.deliver.getJobState(sendJob)).toBe('completed');
  });

  test('a transient provider error for part of the batch: the retry sends only the messages not sent yet', async () => {
    const { orders, messages } = await notifiedBatch(6);
    const flaky = messages.filter((_, i) => i % 3 === 0);
    for (const id of flaky) provider.flaky.add(id);
    const rows = await deliverUntilSent(orders);
    // The flaky ones were tried twice (a 503, then sent), every other message once: the retry of the
    // job skipped what its first try had sent.
    expect(provider.callsOf(messages)).toEqual(messages.map((id) => (flaky.includes(id) ? 2 : 1)));
    expect(rows.map((r) => r.attempts)).toEqual(messages.map((id) => (flaky.includes(id) ? 2 : 1)));
  });

  test('a permanent refusal fails that message alone; one the provider never takes is failed after the last attempt', async () => {
    const { orders, messages, sendJob } = await notifiedBatch(3);
    const [refused, down] = messages as [string, string];
    provider.refused.add(refused);
    provider.down.add(down);
    const rows = await deliverUntilSent(orders, (status) => status !== 'queued');
    const by = new Map(rows.map((r) => [r.id, r]));
    expect(by.get(refused)).toMatchObject({ status: 'failed', attempts: 1 });
    // JOB_ATTEMPTS (4) tries, then the job's last attempt fails what is still queued.
    expect(by.get(down)).toMatchObject({ status: 'failed', attempts: 4 });
    const others = messages.filter((id) => id !== refused && id !== down);
    expect(others.map((id) => by.get(id)?.status)).toEqual(others.map(() => 'sent'));
    expect(provider.callsOf(others)).toEqual(others.map(() => 1));
    expect(provider.callsOf([refused, down])).toEqual([1, 4]);
    expect(await h.deps.queues.queues.deliver.getJobState(sendJob)).toBe('failed');
  });

  test('the reconciler does not re-send messages whose batch job still waits (a backlog, workers paused)', async () => {
    const { orders, messages, sendJob } = await notifiedBatch(4);
    // Nobody delivers: the job waits, and its messages stay queued past RECONCILE_AFTER_SECONDS.
    await makeStale(messages);
    const report = await reconcile(deps);
    expect(report.resent).toBe(messages.length);
    // Still the one job, waiting; no job of a message's own that could send it a second time.
    expect(await deliverJobs(sendJob, messages)).toEqual({ batch: 'prioritized', own: 0 });
    await deliverUntilSent(orders);
    expect(provider.callsOf(messages)).toEqual(messages.map(() => 1));
  });

  test('the reconciler re-adds the batch job when it is gone, and again when it finished with a message still queued', async () => {
    const { orders, messages, sendJob } = await notifiedBatch(3);
    // The job never made it (a crash between the commit and the add; Redis lost it).
    await h.deps.queues.queues.deliver.remove(sendJob);
    await makeStale(messages);
    await reconcile(deps);
    expect(await deliverJobs(sendJob, messages)).toEqual({ batch: 'prioritized', own: 0 });
    await deliverUntilSent(orders);
    expect(provider.callsOf(messages)).toEqual(messages.map(() => 1));

    // The job finished, yet one message is queued again (its status write was lost): the finished
    // job is removed and added again, and sends that message only.
    const [again] = messages;
    await h.pool.query("UPDATE notifications SET status = 'queued' WHERE id = ?", [again]);
    await makeStale([again as string]);
    expect(await h.deps.queues.queues.deliver.getJobState(sendJob)).toBe('completed');
    await reconcile(deps);
    expect(await h.deps.queues.queues.deliver.getJobState(sendJob)).toBe('prioritized');
    await deliverUntilSent(orders);
    expect(provider.callsOf(messages)).toEqual(messages.map((id) => (id === again ? 2 : 1)));
  });

  test('a notify retried after its commit re-adds the same batch job (a no-op while it exists)', async () => {
    const { orders, messages, sendJob } = await notifiedBatch(2);
    // The same orders notified again (a retry after a crash between the commit and the add): the
    // messages keep their batch, and the add finds its job.
    const batcher = notifyBatcher(deps);
    await Promise.all(orders.map((id) => batcher.submit(id)));
    expect((await messagesOf(orders)).map((r) => r.sendJob)).toEqual(messages.map(() => sendJob));
    expect(await deliverJobs(sendJob, messages)).toEqual({ batch: 'prioritized', own: 0 });
    await deliverUntilSent(orders);
    expect(provider.callsOf(messages)).toEqual(messages.map(() => 1));
  });
});
