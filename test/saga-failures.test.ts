import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import { createApp } from '../api/app';
import { createRedis } from '../lib/redis';
import { jobIds } from '../queues/contract';
import { createGateway, createQueues } from '../wiring/adapters';
import {
  FaultyGateway,
  gatewayCallLog,
  killProcess,
  spawnWorkerProcess,
  tcpProxy,
  type WorkerProcess,
} from './support/faults';
import { createHarness, deleteKeys, type Harness } from './support/harness';
import { ledger, statuses } from './support/orders';
import { resendStandIn } from './support/resend-stand-in';
import { CountingGateway, CountingTransports } from './support/stand-ins';
import { drained, eventually, finalStatuses, startTestWorkers, type TestWorkers } from './support/workers';

interface Actors {
  admin: { token: string };
  user: { id: string; token: string };
}

async function actors(h: Harness): Promise<Actors> {
  return { admin: await h.signUp('admin'), user: await h.signUp('user') };
}

async function newProduct(h: Harness, a: Actors, available: number, priceCents = 1000): Promise<string> {
  const res = await h.json(
    'POST',
    '/products',
    { sku: `SKU-${crypto.randomUUID().slice(0, 8)}`, name: 'Thing', priceCents, currency: 'EUR', available },
    a.admin.token,
  );
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function placeOrder(
  h: Harness,
  a: Actors,
  productId: string,
  quantity: number,
  app: { request: Harness['app']['request'] } = h.app,
): Promise<string> {
  const res = await app.request('/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${a.user.token}` },
    body: JSON.stringify({ items: [{ productId, quantity }], payment: { token: 'tok_visa' } }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function inBatches<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

async function rows<T>(h: Harness, sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await h.pool.query<RowDataPacket[]>(sql, params);
  return result as unknown as T[];
}

const allFinal = (list: string[]) => list.every((s) => finalStatuses.has(s));
const summary = (list: string[]) => {
  const counts: Record<string, number> = {};
  for (const s of list) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
};

/** The states of an order's three saga jobs. */
async function jobStates(h: Harness, id: string) {
  const q = h.deps.queues.queues;
  return {
    reserve: await q.reserve.getJobState(jobIds.reserve(id)),
    charge: await q.charge.getJobState(jobIds.charge(id)),
    notify: await q.notify.getJobState(jobIds.notify(id)),
  };
}

/** Waits until the order is final, then reads it (with its timeline) through the API as its owner. */
async function finalOrder(h: Harness, a: Actors, id: string) {
  await eventually(
    () => statuses(h, [id]),
    ([s]) => finalStatuses.has(s ?? ''),
    30_000,
  );
  const res = await h.json('GET', `/orders/${id}`, undefined, a.user.token);
  return (await res.json()) as { status: string; failureReason?: string; events: { to: string }[] };
}

async function stockOf(h: Harness, productId: string) {
  const [row] = await rows<{ available: number; reserved: number }>(
    h,
    'SELECT available, reserved FROM products WHERE id = ?',
    [productId],
  );
  if (!row) throw new Error(`no product ${productId}`);
  return row;
}

/** The money invariant: a completed order was charged once and kept; any other was not charged, or refunded. */
async function expectMoneyConsistent(h: Harness, ids: string[]) {
  const status = await statuses(h, ids);
  const money = await Promise.all(ids.map((id) => ledger(h, id)));
  const wrong = ids.flatMap((id, i) => {
    const m = money[i] ?? { charges: 0, refunds: 0 };
    const kept = m.charges - m.refunds;
    const ok = m.charges <= 1 && m.refunds <= 1 && kept === (status[i] === 'completed' ? 1 : 0);
    return ok ? [] : [{ id, status: status[i], ...m }];
  });
  expect(wrong).toEqual([]);
}

async function completedQuantity(h: Harness, ids: string[], productId: string): Promise<number> {
  const [row] = await rows<{ qty: number | string | null }>(
    h,
    `SELECT SUM(i.quantity) AS qty FROM order_items i JOIN orders o ON o.id = i.order_id
     WHERE o.status = 'completed' AND i.product_id = ? AND o.id IN (?)`,
    [productId, ids],
  );
  return Number(row?.qty ?? 0);
}

async function waitForWorkerProcess(h: Harness, p: WorkerProcess) {
  await eventually(
    async () => {
      if (p.proc.exitCode !== null) throw new Error(`worker process exited early:\n${p.output()}`);
      const lists = await Promise.all(
        (['reserve', 'charge', 'notify'] as const).map((q) => h.deps.queues.queues[q].getWorkers()),
      );
      return lists.map((l) => l.length);
    },
    (counts) => counts.every((n) => n > 0),
    30_000,
  );
}

const workerProcessEnv = {
  GATEWAY_LATENCY_MS: '50',
  WORKER_LOCK_MS: '2000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  RECONCILE_AFTER_SECONDS: '2',
  RECONCILE_EVERY_MS: '500',
  EMAIL_RATE_MAX: '1000',
  JOB_BACKOFF_MS: '100',
};

describe('a charge retried after the gateway call succeeded', () => {
  let h: Harness;
  let w: TestWorkers;
  let a: Actors;
  let gateway: FaultyGateway;

  beforeAll(async () => {
    h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });
    a = await actors(h);
    gateway = new FaultyGateway(createGateway(h.config, h.db), (call) => (call === 1 ? 'after' : 'none'));
    w = await startTestWorkers(h, { gateway, concurrency: 5 });
  });
  afterAll(async () => {
    await w?.stop();
    await h?.cleanup();
  });

  test('a charge retried after the gateway call succeeded charges once', async () => {
    const p = await newProduct(h, a, 5, 1234);
    const id = await placeOrder(h, a, p, 2);
    const done = await eventually(
      () => statuses(h, [id]),
      ([s]) => finalStatuses.has(s ?? ''),
      30_000,
    );
    expect(done).toEqual(['completed']);
    // The first call took the money and lost the answer; every retry asked again with the same key and
    // amount (which is what lets the processor answer it with the first charge instead of a second).
    expect(gateway.calls).toBeGreaterThanOrEqual(2);
    expect(new Set(gateway.requests.map((r) => JSON.stringify(r)))).toEqual(
      new Set([JSON.stringify({ idempotencyKey: `chg_${id}`, amountCents: 2468 })]),
    );

    const charges = await rows<{
      idempotency_key: string;
      type: string;
      outcome: string;
      amount_cents: number;
    }>(
      h,
      `SELECT idempotency_key, type, outcome, amount_cents FROM gateway_transactions
       WHERE idempotency_key = ? OR payment_ref = ?`,
      [`chg_${id}`, `chg_${id}`],
    );
    expect(charges).toEqual([
      { idempotency_key: `chg_${id}`, type: 'charge', outcome: 'succeeded', amount_cents: 2468 },
    ]);

    const res = await h.json('GET', `/payment/status/${id}`, undefined, a.user.token);
    expect(res.status).toBe(200);
    const pay = (await res.json()) as {
      status: string;
      amountCents: number;
      transactions: { type: string }[];
    };
    expect(pay.status).toBe('succeeded');
    expect(pay.amountCents).toBe(2468);
    expect(pay.transactions.map((t) => t.type)).toEqual(['charge']);
    expect(await stockOf(h, p)).toEqual({ available: 3, reserved: 0 });
  }, 60_000);
});

describe('a step that keeps failing', () => {
  let h: Harness;
  let w: TestWorkers;
  let a: Actors;
  let gateway: FaultyGateway;

  beforeAll(async () => {
    h = await createHarness({ JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '20', EMAIL_RATE_MAX: '1000' });
    a = await actors(h);
    gateway = new FaultyGateway(createGateway(h.config, h.db), () => 'before');
    w = await startTestWorkers(h, { gateway, concurrency: 5 });
  });
  afterAll(async () => {
    await w?.stop();
    await h?.cleanup();
  });

  test('a step that keeps failing ends the order failed, stock released, nothing left in waiting-children', async () => {
    const p = await newProduct(h, a, 10);
    const id = await placeOrder(h, a, p, 4);
    const order = await finalOrder(h, a, id);
    expect(order.status).toBe('failed');
    expect(gateway.calls).toBe(3);
    expect(order.failureReason).toBe('charge_failed');
    expect(order.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'failed']);
    expect(await stockOf(h, p)).toEqual({ available: 10, reserved: 0 });

    // The parent notify still ran and told the customer.
    const emails = await eventually(
      () =>
        rows<{ status: string; dedupe_key: string }>(
          h,
          `SELECT status, dedupe_key FROM notifications WHERE order_id = ? AND channel = 'email'`,
          [id],
        ),
      (r) => r.some((n) => n.status === 'sent'),
      20_000,
    );
    expect(emails).toEqual([{ status: 'sent', dedupe_key: `${id}:failed:email` }]);

    const q = h.deps.queues.queues;
    const jobs = await eventually(
      () => jobStates(h, id),
      (s) => s.notify === 'completed',
      20_000,
    );
    expect(jobs).toEqual({ reserve: 'completed', charge: 'failed', notify: 'completed' });
    for (const queue of [q.reserve, q.charge, q.notify]) {
      expect(
        await queue.getJobCounts('waiting-children', 'waiting', 'active', 'delayed', 'prioritized'),
      ).toEqual({ 'waiting-children': 0, waiting: 0, active: 0, delayed: 0, prioritized: 0 });
    }
    // Nothing was charged, so nothing was refunded either.
    await expectMoneyConsistent(h, [id]);
    const pay = (await (await h.json('GET', `/payment/status/${id}`, undefined, a.user.token)).json()) as {
      status: string;
      transactions: unknown[];
    };
    expect(pay.status).not.toBe('succeeded');
    expect(pay.transactions).toEqual([]);
  }, 60_000);
});

/**
 * A real MySQL fault for one order: a trigger refuses the timeline row of one transition of that
 * order, so the step that makes it fails (its transaction rolls back) on every attempt, while every
 * other write, including ending the order `failed`, goes through.
 */
async function refuseTransition(h: Harness, orderId: string, to: string): Promise<void> {
  const name = `refuse_${to}_${orderId}`.slice(0, 64);
  await h.pool.query(
    `CREATE TRIGGER \`${name}\` BEFORE INSERT ON order_events FOR EACH ROW
     BEGIN
       IF NEW.order_id = ${h.pool.escape(orderId)} AND NEW.to_status = ${h.pool.escape(to)} THEN
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected: transition refused';
       END IF;
     END`,
  );
}

describe('reserve and notify running out of attempts', () => {
  let h: Harness;
  let w: TestWorkers | undefined;
  let a: Actors;
  const gateway = { current: undefined as CountingGateway | undefined };
  const transports = new CountingTransports();

  beforeAll(async () => {
    h = await createHarness({ JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '20', EMAIL_RATE_MAX: '1000' });
    a = await actors(h);
  });
  afterAll(async () => {
    await w?.stop();
    await h?.cleanup();
  });

  /** Places an order with no worker running, arms the fault for it, then lets workers at it. */
  async function withFault(to: string, quantity: number, productId: string): Promise<string> {
    const id = await placeOrder(h, a, productId, quantity);
    await refuseTransition(h, id, to);
    await w?.stop();
    gateway.current = new CountingGateway(createGateway(h.config, h.db));
    w = await startTestWorkers(h, { gateway: gateway.current, transports, concurrency: 5 });
    return id;
  }

  async function expectNothingHanging(id: string) {
    const q = h.deps.queues.queues;
    const jobs = await eventually(
      () => jobStates(h, id),
      (st) => ['completed', 'failed'].includes(st.notify),
      20_000,
    );
    // Follow-up jobs (telling the customer) may still be running: wait for the queues to drain, then
    // nothing may be left waiting on a child that will never finish.
    const idle = { 'waiting-children': 0, waiting: 0, active: 0, delayed: 0 };
    const read = () =>
      Promise.all(
        [q.reserve, q.charge, q.notify].map((x) =>
          x.getJobCounts('waiting-children', 'waiting', 'active', 'delayed'),
        ),
      );
    const counts = await eventually(
      read,
      (all) => all.every((c) => Object.values(c).every((n) => n === 0)),
      20_000,
    ).catch(read);
    expect(counts).toEqual([idle, idle, idle]);
    return jobs;
  }

  test('reserve keeps failing: the order ends failed, nothing held, never charged, customer told', async () => {
    const p = await newProduct(h, a, 10);
    const id = await withFault('reserved', 3, p);
    const order = await finalOrder(h, a, id);
    expect(order.status).toBe('failed');
    expect(order.failureReason).toBe('reserve_failed');
    expect(order.events.map((e) => e.to)).toEqual(['pending', 'failed']);
    expect(await stockOf(h, p)).toEqual({ available: 10, reserved: 0 });
    const jobs = await expectNothingHanging(id);
    expect(jobs.reserve).toBe('failed');
    expect(gateway.current?.chargeCalls(id)).toBe(0);
    await eventually(
      async () => transports.of(id, 'email').length,
      (n) => n > 0,
      20_000,
    );
    expect(transports.of(id, 'email').map((m) => m.text)).toEqual([
      expect.stringContaining('could not process'),
    ]);
  }, 60_000);

  test('notify keeps failing: the paid order ends failed, refunded, stock released, customer told', async () => {
    const p = await newProduct(h, a, 10, 700);
    const id = await withFault('completed', 2, p);
    const order = await finalOrder(h, a, id);
    expect(order.status).toBe('failed');
    expect(order.failureReason).toBe('notify_failed');
    expect(order.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'paid', 'failed']);
    expect(await stockOf(h, p)).toEqual({ available: 10, reserved: 0 });
    const jobs = await expectNothingHanging(id);
    expect(jobs.notify).toBe('failed');
    // Charged once, and the money went back.
    expect(gateway.current?.chargeCalls(id)).toBe(1);
    await expectMoneyConsistent(h, [id]);
    const pay = (await (await h.json('GET', `/payment/status/${id}`, undefined, a.user.token)).json()) as {
      status: string;
      transactions: { type: string }[];
    };
    expect(pay.status).toBe('refunded');
    expect(pay.transactions.map((t) => t.type)).toEqual(['charge', 'refund']);
    await eventually(
      async () => transports.of(id, 'email').length,
      (n) => n > 0,
      20_000,
    );
    // Nothing left that could send a second one: every job drained.
    await drained(h.deps.queues);
    expect(transports.of(id, 'email').map((m) => m.text)).toEqual([
      expect.stringContaining('could not process'),
    ]);
    // A failed order cannot be cancelled.
    expect((await h.json('PUT', `/orders/${id}/cancel`, undefined, a.user.token)).status).toBe(409);
  }, 60_000);
});

describe('a worker process killed with SIGKILL mid-load', () => {
  let h: Harness;
  let a: Actors;
  const children: WorkerProcess[] = [];
  // Counted where the calls arrive: the gateway (a call log both processes append to) and the email
  // provider (a Resend stand-in both processes send to through the real SDK).
  const gatewayCalls = gatewayCallLog();
  const provider = resendStandIn();
  const env = { ...workerProcessEnv, ...gatewayCalls.env, ...provider.env };

  beforeAll(async () => {
    h = await createHarness({ JOB_BACKOFF_MS: '100', EMAIL_RATE_MAX: '1000' });
    a = await actors(h);
  });
  afterAll(async () => {
    await Promise.all(children.map(killProcess));
    await provider.stop();
    gatewayCalls.remove();
    await h?.cleanup();
  });

  test('a worker process killed with SIGKILL mid-load', async () => {
    const initial = 50;
    const total = 60;
    const p = await newProduct(h, a, initial);
    // The first process's charges take a second each: when it dies, some are surely in its hands.
    const first = spawnWorkerProcess(h, { ...env, GATEWAY_LATENCY_MS: '1000' });
    children.push(first);
    await waitForWorkerProcess(h, first);

    const ids: string[] = [];
    let activeAtKill: string[] = [];
    let completedAtKill = -1;
    let killed = false;
    const killer = (async () => {
      while (!killed) {
        const [row] = await rows<{ n: number }>(
          h,
          `SELECT COUNT(*) AS n FROM orders WHERE status = 'completed'`,
        );
        if (Number(row?.n ?? 0) >= 5) {
          first.proc.kill('SIGKILL');
          killed = true;
          completedAtKill = Number(row?.n ?? 0);
          await first.proc.exited;
          // No other worker runs: whatever is still in an active list was held by the dead process.
          const q = h.deps.queues.queues;
          const active = (
            await Promise.all([q.reserve, q.charge, q.notify].map((x) => x.getActive()))
          ).flat();
          activeAtKill = active.map((j) => (j.data as { orderId: string }).orderId);
          return;
        }
        await Bun.sleep(20);
      }
    })();
    await inBatches(
      Array.from({ length: total }, (_, i) => i),
      8,
      async () => {
        ids.push(await placeOrder(h, a, p, 1));
      },
    );
    await Promise.race([
      killer,
      Bun.sleep(30_000).then(() => {
        throw new Error('no order completed before the kill');
      }),
    ]);
    expect(first.proc.signalCode).toBe('SIGKILL');
    // The kill happened mid-load: some orders were done, not all.
    expect(completedAtKill).toBeGreaterThan(0);
    expect(completedAtKill).toBeLessThan(total);
    const atKill = await statuses(h, ids);
    const unfinished = ids.filter((id) => !finalStatuses.has(atKill[ids.indexOf(id)] ?? ''));
    expect(unfinished.length).toBeGreaterThan(0);
    // Jobs were running in the process when it died (not merely waiting in Redis): this test's orders,
    // most of them mid-charge (a notify may have recorded its outcome just before the kill).
    expect(activeAtKill.length).toBeGreaterThan(0);
    expect(activeAtKill.filter((id) => !ids.includes(id))).toEqual([]);
    expect(activeAtKill.some((id) => unfinished.includes(id))).toBe(true);

    const second = spawnWorkerProcess(h, env);
    children.push(second);
    await waitForWorkerProcess(h, second);

    const end = await eventually(() => statuses(h, ids), allFinal, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\nsecond worker output:\n${second.output()}`);
    });
    const counts = summary(end);
    expect(counts.completed).toBe(initial);
    expect(counts.rejected).toBe(total - initial);
    // The interrupted jobs were taken over (stalled, then re-run) and their orders ended.
    for (const id of activeAtKill) expect(finalStatuses.has(end[ids.indexOf(id)] ?? '')).toBe(true);

    await expectMoneyConsistent(h, ids);
    const s = await stockOf(h, p);
    expect(s.reserved).toBe(0);
    expect(s.available + s.reserved + (await completedQuantity(h, ids, p))).toBe(initial);

    // Nothing is left that could still call: every job drained, every customer told.
    await drained(h.deps.queues, () => ids.every((id) => provider.of(id).length > 0), 60_000);
    // Counted at the gateway: every call was under its order's one key; an order the dead process was
    // not working on was asked for once (a completed one) or never; one it held may have been asked
    // again by the process that took its job over, under the same key.
    const keys = new Set(ids.map((id) => `chg_${id}`));
    expect(gatewayCalls.calls().filter((c) => !keys.has(c.key))).toEqual([]);
    const wrongCalls = ids.flatMap((id, i) => {
      const calls = gatewayCalls.chargeCalls(id);
      const expected = end[i] === 'completed' ? 1 : 0;
      const ok = activeAtKill.includes(id) && expected === 1 ? calls >= 1 && calls <= 2 : calls === expected;
      return ok ? [] : [{ id, status: end[i], calls, interrupted: activeAtKill.includes(id) }];
    });
    expect(wrongCalls).toEqual([]);
    expect(gatewayCalls.calls().filter((c) => c.kind === 'refund')).toEqual([]);
    // Counted at the provider: each customer received their email. Not always only one: a request
    // the dead process had sent, but not yet recorded, goes out again in a batch of another make-up
    // (so under another Idempotency-Key), and Resend cannot tell it is the same message. Seen here as
    // a second email for a few orders; what a SIGKILL can cost is bounded to those in flight.
    const emails = ids.map((id) => provider.of(id).length);
    expect(emails.filter((n) => n < 1 || n > 2)).toEqual([]);
  }, 120_000);
});

describe('Redis loses the queue keys', () => {
  let h: Harness;
  let w: TestWorkers | undefined;
  let a: Actors;

  beforeAll(async () => {
    h = await createHarness({
      RECONCILE_AFTER_SECONDS: '1',
      RECONCILE_EVERY_MS: '300',
      JOB_BACKOFF_MS: '50',
      EMAIL_RATE_MAX: '1000',
    });
    a = await actors(h);
  });
  afterAll(async () => {
    await w?.stop();
    await h?.cleanup();
  });

  test("Redis loses the queue's keys after orders were accepted", async () => {
    const p = await newProduct(h, a, 100);
    const ids = await inBatches(
      Array.from({ length: 20 }, (_, i) => i),
      5,
      () => placeOrder(h, a, p, 2),
    );
    const q = h.deps.queues.queues;
    expect((await q.reserve.getJobCounts('waiting')).waiting).toBe(20);

    // Two more orders are stored while the API cannot reach Redis: one after its connection was cut,
    // one by an API whose connection never came up. Both are accepted and left to the reconciler.
    const proxy = await tcpProxy(h.config.REDIS_URL);
    const cutRedis = createRedis(proxy.url, 'producer', 'orderflow-test-cut');
    const deadRedis = createRedis('redis://127.0.0.1:1', 'producer', 'orderflow-test-dead');
    const offline = [cutRedis, deadRedis].map((redis) => {
      redis.on('error', () => {});
      const queues = createQueues(h.config, redis);
      for (const queue of Object.values(queues.queues)) queue.on('error', () => {});
      // Only the queue producer loses Redis: the test is about the saga, not the rate limiter or cache.
      return { redis, queues, app: createApp({ ...h.deps, queues }) };
    });
    try {
      await eventually(
        async () => cutRedis.status,
        (st) => st === 'ready',
        5000,
      );
      await proxy.cut();
      for (const o of offline) {
        // The producer fails fast: the client gets its 202 at once, not when Redis is back.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const hung = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`POST /orders hung while its Redis (${o.redis.status}) was unreachable`)),
            5000,
          );
        });
        ids.push(
          await Promise.race([placeOrder(h, a, p, 2, o.app), hung]).finally(() => clearTimeout(timer)),
        );
      }
    } finally {
      for (const o of offline) {
        o.redis.disconnect();
        await o.queues.close().catch(() => {});
      }
      await proxy.cut();
    }

    await deleteKeys(h.redis, h.prefix);
    expect(await h.redis.keys(`${h.prefix}:*`)).toEqual([]);
    expect(summary(await statuses(h, ids))).toEqual({ pending: 22 });

    const transports = new CountingTransports();
    const gateway = new CountingGateway(createGateway(h.config, h.db));
    w = await startTestWorkers(h, { concurrency: 5, transports, gateway });
    const end = await eventually(() => statuses(h, ids), allFinal, 60_000);
    expect(summary(end)).toEqual({ completed: 22 });
    await expectMoneyConsistent(h, ids);
    expect(await stockOf(h, p)).toEqual({ available: 100 - 2 * 22, reserved: 0 });
    // Every customer was told, once.
    const sent = await eventually(
      () =>
        rows<{ order_id: string }>(
          h,
          `SELECT order_id FROM notifications WHERE channel = 'email' AND status = 'sent' AND order_id IN (?)`,
          [ids],
        ),
      (r) => r.length >= ids.length,
      20_000,
    );
    expect(new Set(sent.map((r) => r.order_id)).size).toBe(ids.length);
    // Nothing left that could charge or send again (the reconciler's re-adds included): every job drained.
    await drained(h.deps.queues, () => ids.every((id) => transports.of(id, 'email').length > 0));
    // Counted at the gateway and the provider: each order was charged once and each customer got one
    // email, however often flows were re-added.
    expect(ids.map((id) => gateway.chargeCalls(id))).toEqual(ids.map(() => 1));
    expect(ids.map((id) => transports.of(id, 'email').length)).toEqual(ids.map(() => 1));
  }, 90_000);
});

describe('graceful shutdown', () => {
  let h: Harness;
  let a: Actors;
  const sets: TestWorkers[] = [];
  const children: WorkerProcess[] = [];

  beforeAll(async () => {
    h = await createHarness({
      GATEWAY_LATENCY_MS: '1500',
      WORKER_LOCK_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      JOB_BACKOFF_MS: '50',
      EMAIL_RATE_MAX: '1000',
    });
    a = await actors(h);
  });
  afterAll(async () => {
    await Promise.all(children.map(killProcess));
    for (const s of sets) await s.stop().catch(() => {});
    await h?.cleanup();
  });

  test('graceful shutdown: stop() while charges are in flight, new workers finish every order', async () => {
    const p = await newProduct(h, a, 20);
    const gateway = new FaultyGateway(createGateway(h.config, h.db), () => 'none');
    const first = await startTestWorkers(h, { gateway, concurrency: 5 });
    sets.push(first);
    const ids = await Promise.all([1, 2, 3, 4].map(() => placeOrder(h, a, p, 1)));
    await eventually(
      async () => gateway.inFlight,
      (n) => n > 0,
      20_000,
    );
    await first.stop();
    sets.splice(sets.indexOf(first), 1);
    // The charges in flight were let finish: none is in the gateway's hands, and every charge job the
    // stopped workers had taken completed there (none left active for another worker to take over).
    expect(gateway.inFlight).toBe(0);
    const asked = [...new Set(gateway.requests.map((r) => r.idempotencyKey.replace(/^chg_/, '')))];
    expect(asked.length).toBeGreaterThan(0);
    const q = h.deps.queues.queues;
    expect(await Promise.all(asked.map((id) => q.charge.getJobState(jobIds.charge(id))))).toEqual(
      asked.map(() => 'completed'),
    );
    expect((await q.charge.getJobCounts('active')).active).toBe(0);

    const second = await startTestWorkers(h, { concurrency: 5 });
    sets.push(second);
    const end = await eventually(() => statuses(h, ids), allFinal, 60_000);
    expect(summary(end)).toEqual({ completed: 4 });
    await expectMoneyConsistent(h, ids);
    expect(await stockOf(h, p)).toEqual({ available: 16, reserved: 0 });
  }, 90_000);

  test('a worker process told to stop keeps its shutdown deadline even when a charge takes longer', async () => {
    const p = await newProduct(h, a, 20);
    // No in-process workers now: only the child process takes these orders.
    for (const s of sets.splice(0)) await s.stop();
    const child = spawnWorkerProcess(h, {
      GATEWAY_LATENCY_MS: '8000',
      GATEWAY_TIMEOUT_MS: '20000',
      SHUTDOWN_GRACE_MS: '500',
      WORKER_LOCK_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      EMAIL_RATE_MAX: '1000',
    });
    children.push(child);
    await waitForWorkerProcess(h, child);
    const ids = await Promise.all([1, 2].map(() => placeOrder(h, a, p, 1)));
    // Both charges are in the gateway's hands (8 s each) when the process is told to stop.
    await eventually(
      () => h.deps.queues.queues.charge.getActiveCount(),
      (n) => n === 2,
      20_000,
    );
    child.proc.kill('SIGTERM');
    await child.proc.exited;
    expect(child.proc.exitCode).toBe(0);
    // SHUTDOWN_GRACE_MS is 500: the process left before the 8 s charges ended (the processor had
    // recorded neither), instead of waiting for them.
    for (const id of ids) expect(await ledger(h, id)).toEqual({ charges: 0, refunds: 0 });

    const next = await startTestWorkers(h, { concurrency: 5 });
    sets.push(next);
    const end = await eventually(() => statuses(h, ids), allFinal, 60_000);
    expect(summary(end)).toEqual({ completed: 2 });
    await expectMoneyConsistent(h, ids);
    expect(await stockOf(h, p)).toEqual({ available: 18, reserved: 0 });
  }, 90_000);
});
