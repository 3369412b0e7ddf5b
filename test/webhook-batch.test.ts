import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test';
import { deliverEndpoint } from '../domain/webhooks/deliver';
import { dispatchEvents } from '../domain/webhooks/deliveries';
import { createEndpoint, updateEndpoint } from '../domain/webhooks/endpoints';
import { queueEndpointJobs } from '../queues/webhooks';
import { deliverySettingsFor } from './support/delivery-settings';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { type Receiver, startReceiver } from './support/webhook-receiver';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// Per-endpoint batch delivery: one endpoint's due deliveries are read, rendered, sent over a few
// kept-alive connections and recorded in a handful of statements; one job per endpoint, so a dead
// endpoint holds one worker slot and never delays another endpoint; and a job Redis half-lost (its
// hash left in no list) is cleared and added again by the dispatcher.
let h: Harness;
let admin: { id: string; token: string };
let user: { id: string; token: string };
let s: ReturnType<typeof shop>;
const receivers: Receiver[] = [];
const workers: TestWorkers[] = [];

beforeAll(async () => {
  h = await createHarness({
    WEBHOOK_ALLOW_PRIVATE: 'on',
    WEBHOOK_RETRY_BASE_SECONDS: '60',
    WEBHOOK_TIMEOUT_MS: '8000',
    // Two endpoint jobs at once per process: a dead endpoint allowed both would starve the other.
    WEBHOOK_CONCURRENCY: '2',
    WEBHOOK_ENDPOINT_CONCURRENCY: '5',
    WEBHOOK_DISPATCH_EVERY_MS: '100',
  });
  admin = await h.signUp('admin');
  user = await h.signUp('user');
  s = shop(h, admin);
}, 30_000);
// Workers a test started stop with it: a later test that runs an endpoint's job itself must be the
// only one sending (a running worker's dispatcher would take its endpoints too).
afterEach(async () => {
  for (const w of workers.splice(0)) await w.stop();
});
afterAll(async () => {
  for (const w of workers) await w.stop();
  for (const r of receivers) await r.stop();
  await h.cleanup();
}, 30_000);

const anyAddress = { allowPrivate: true, resolve: async () => [{ address: '127.0.0.1', family: 4 }] };

async function endpointFor(r: Receiver, events = ['*']): Promise<string> {
  const made = await createEndpoint(h.db, h.config.piiKey, { url: r.url, events }, anyAddress);
  r.secret = made.secret;
  return made.id;
}

function receiver(): Receiver {
  const r = startReceiver();
  receivers.push(r);
  return r;
}

async function eventIdsOf(orderIds: string[]): Promise<string[]> {
  const [rows] = await h.pool.query('SELECT id FROM events WHERE order_id IN (?)', [orderIds]);
  return (rows as { id: number }[]).map((r) => `evt_${r.id}`).sort();
}

async function place(n: number): Promise<string[]> {
  const product = await s.product(1000);
  return Promise.all(
    Array.from(
      { length: n },
      async () => ((await (await s.place(user.token, product, 1)).json()) as { id: string }).id,
    ),
  );
}

test('one endpoint, 60 events: every one delivered over a few connections, in a handful of SQL statements', async () => {
  const r = receiver();
  const endpointId = await endpointFor(r);
  // No workers run yet: only order.created events, turned into deliveries here.
  const orders = await place(60);
  const written = await eventIdsOf(orders);
  expect(written.length).toBe(60);
  await dispatchEvents(h.db);
  const settings = deliverySettingsFor(h, { guard: anyAddress });
  // Every statement goes through the pool's `query` (drizzle's and the raw ones alike): count them.
  const pool = h.db.$client;
  const query = pool.query;
  const statements: string[] = [];
  const seen = (sql: unknown) =>
    statements.push(typeof sql === 'string' ? sql : String((sql as { sql?: string }).sql));
  pool.query = ((...args: Parameters<typeof query>) => {
    seen(args[0]);
    return query.apply(pool, args);
  }) as typeof query;
  // A transaction's statements go over a connection of its own: count those too.
  const getConnection = pool.getConnection;
  pool.getConnection = (async () => {
    const conn = await getConnection.apply(pool);
    const connQuery = conn.query;
    conn.query = ((...args: Parameters<typeof connQuery>) => {
      seen(args[0]);
      return connQuery.apply(conn, args);
    }) as typeof connQuery;
    const release = conn.release;
    conn.release = () => {
      conn.query = connQuery;
      conn.release = release;
      release.apply(conn);
    };
    return conn;
  }) as typeof getConnection;
  let report: Awaited<ReturnType<typeof deliverEndpoint>>;
  try {
    report = await deliverEndpoint(h.db, settings, endpointId);
  } finally {
    pool.query = query;
    pool.getConnection = getConnection;
  }
  expect(report).toMatchObject({ batches: 1, succeeded: 60, failed: 0 });
  expect([...r.seen.keys()].sort()).toEqual(written);
  expect(r.badSignatures).toBe(0);
  // One request per event, over at most WEBHOOK_ENDPOINT_CONCURRENCY kept-alive connections.
  expect(r.requests).toBe(60);
  expect(r.connections.size).toBeLessThanOrEqual(5);
  // The endpoint, the batch of new events, the rendering (orders, their items, their timelines), one
  // INSERT of all 60 rows with their outcomes and the endpoint's place moved (in one transaction),
  // and the empty reads that end it: not one statement per delivery, and no row written twice.
  const inserts = statements.filter((q) => /^INSERT IGNORE INTO `webhook_deliveries`/.test(q));
  expect(inserts.length).toBe(1);
  expect(statements.filter((q) => /^UPDATE `webhook_deliveries`/.test(q))).toEqual([]);
  expect(statements.length).toBeLessThanOrEqual(12);
  const [rows] = await h.pool.query(
    'SELECT status, attempts, last_status_code AS code, COUNT(*) AS n FROM webhook_deliveries ' +
      'WHERE endpoint_id = ? GROUP BY status, attempts, last_status_code',
    [endpointId],
  );
  expect(rows as unknown[]).toEqual([{ status: 'succeeded', attempts: 1, code: 200, n: 60 }]);
}, 60_000);

test('a dead endpoint (never answers) does not delay a healthy endpoint, with two worker slots in all', async () => {
  const dead = receiver();
  dead.answer = () => new Promise<Response>(() => {});
  const deadId = await endpointFor(dead);
  workers.push(await startTestWorkers(h, { concurrency: 5 }));
  // First the dead endpoint gets a backlog, and its sends hang (8 s timeout)…
  await place(4);
  await eventually(
    async () => dead.requests,
    (n) => n >= 1,
    10_000,
  );
  // …for several dispatcher passes (every 100 ms): time enough for it to take every slot it can.
  await Bun.sleep(1000);
  // Then a healthy endpoint subscribes, and new orders' events reach it well within one timeout.
  const healthy = receiver();
  await endpointFor(healthy);
  const started = Date.now();
  const orders = await place(3);
  await eventually(
    async () => {
      const ids = await eventIdsOf(orders);
      return ids.length >= 12 && ids.every((id) => healthy.seen.has(id));
    },
    'the healthy endpoint has every event of the new orders',
    5000,
  );
  expect(Date.now() - started).toBeLessThan(5000);
  expect(healthy.badSignatures).toBe(0);
  // The dead endpoint holds one round of sends (WEBHOOK_ENDPOINT_CONCURRENCY), no more.
  expect(dead.requests).toBeLessThanOrEqual(5);
  await h.pool.query("UPDATE webhook_endpoints SET status = 'disabled' WHERE id = ?", [deadId]);
}, 60_000);

test('Redis lost part of an endpoint job (its hash in no list): the dispatcher clears it and the deliveries go out', async () => {
  // The workers of the test above are stopped: nothing takes the job while it is being broken.
  for (const w of workers.splice(0)) await w.stop();
  const r = receiver();
  const endpointId = await endpointFor(r, ['order.created']);
  const orders = await place(3);
  const written = await eventIdsOf(orders);
  await dispatchEvents(h.db);
  const queue = h.deps.queues.queues.webhooks;
  await queueEndpointJobs(queue, [endpointId]);
  // Every list that could hold it loses it; the job's hash stays: an add with its id is a no-op now.
  const keys = queue.keys;
  await h.redis.del(
    keys.wait as string,
    keys.paused as string,
    keys.prioritized as string,
    keys.marker as string,
  );
  expect(await queue.getJobState(`ep-${endpointId}`)).toBe('unknown');
  expect(await h.redis.exists(`${keys[''] ?? ''}ep-${endpointId}`)).toBe(1);
  const started = Date.now();
  workers.push(await startTestWorkers(h, { queues: ['webhooks'] }));
  await eventually(
    async () => written.filter((id) => r.seen.has(id)).length,
    (n) => n === written.length,
    20_000,
  );
  // Not before the grace period (5 s): until then the dispatcher's adds were no-ops.
  expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
  expect(r.badSignatures).toBe(0);
}, 60_000);

test("an endpoint's place in the outbox: events not for it are passed over, and what happened while it was disabled is not sent once enabled again", async () => {
  const cancels = receiver();
  const cancelsId = await endpointFor(cancels, ['order.cancelled']);
  const all = receiver();
  const allId = await endpointFor(all);
  const settings = deliverySettingsFor(h, { guard: anyAddress, batchSize: 2 });
  const placeOf = async () => {
    const [rows] = await h.pool.query('SELECT after_seq AS s FROM webhook_endpoints WHERE id = ?', [
      cancelsId,
    ]);
    return Number((rows as { s: number }[])[0]?.s);
  };
  const newest = async () => {
    const [rows] = await h.pool.query('SELECT MAX(seq) AS s FROM events');
    return Number((rows as { s: number }[])[0]?.s);
  };
  // No workers: each order's order.created only. Three of them, in batches of two.
  const first = await place(3);
  await dispatchEvents(h.db);
  expect(await deliverEndpoint(h.db, settings, cancelsId)).toMatchObject({ batches: 0, succeeded: 0 });
  expect(cancels.requests).toBe(0);
  expect(await placeOf()).toBe(await newest());
  expect(await deliverEndpoint(h.db, settings, allId)).toMatchObject({ succeeded: 3, failed: 0 });
  // Disabled, it is sent nothing; enabled again, only what happens from then on.
  await updateEndpoint(h.db, allId, { status: 'disabled' }, anyAddress);
  const whileDisabled = await place(2);
  await dispatchEvents(h.db);
  expect(await deliverEndpoint(h.db, settings, allId)).toMatchObject({
    succeeded: 0,
    stopped: 'endpoint disabled',
  });
  await updateEndpoint(h.db, allId, { status: 'enabled' }, anyAddress);
  const after = await place(1);
  await dispatchEvents(h.db);
  expect(await deliverEndpoint(h.db, settings, allId)).toMatchObject({ succeeded: 1, failed: 0 });
  const sentFor = new Set(all.bodies.map((b) => String(b.data.id)));
  expect([...sentFor].sort()).toEqual([...first, ...after].sort());
  for (const id of whileDisabled) expect(sentFor.has(id)).toBe(false);
  expect(all.requests).toBe(4);
  // Each delivery's row was written once, with its outcome: succeeded at the first attempt.
  const [rows] = await h.pool.query(
    'SELECT status, attempts, COUNT(*) AS n FROM webhook_deliveries WHERE endpoint_id = ? GROUP BY status, attempts',
    [allId],
  );
  expect(rows as unknown[]).toEqual([{ status: 'succeeded', attempts: 1, n: 4 }]);
});

test('new events and retries come due take turns: a retry is not kept waiting behind a backlog of new events', async () => {
  const r = receiver();
  const arrivals: string[] = [];
  r.answer = (_nth, id) => {
    arrivals.push(id);
    return new Response('ok');
  };
  const endpointId = await endpointFor(r);
  const settings = deliverySettingsFor(h, { guard: anyAddress, batchSize: 2 });
  await place(1);
  await dispatchEvents(h.db);
  expect(await deliverEndpoint(h.db, settings, endpointId)).toMatchObject({ succeeded: 1 });
  const retried = arrivals[0] as string;
  // Its delivery is owed again (as a manual retry makes it), and six new events wait, three batches.
  await h.pool.query(
    "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = NOW(3) WHERE endpoint_id = ?",
    [endpointId],
  );
  await place(6);
  await dispatchEvents(h.db);
  expect(await deliverEndpoint(h.db, settings, endpointId)).toMatchObject({ succeeded: 7, failed: 0 });
  // One batch of new events, then the retry, then the rest of the new ones.
  expect(arrivals.length).toBe(8);
  expect(arrivals.indexOf(retried, 1)).toBe(3);
});

test('a stopping process takes no further batch: the one in flight is sent and recorded, the rest stay owed and go once, later', async () => {
  const r = receiver();
  let stopping = false;
  r.answer = () => {
    // The shutdown comes while the first batch is being sent.
    stopping = true;
    return new Response('ok');
  };
  const endpointId = await endpointFor(r);
  const settings = deliverySettingsFor(h, { guard: anyAddress, batchSize: 2, stopping: () => stopping });
  const orders = await place(6);
  await dispatchEvents(h.db);
  expect(await deliverEndpoint(h.db, settings, endpointId)).toMatchObject({
    batches: 1,
    succeeded: 2,
    stopped: 'shutdown',
  });
  expect(r.requests).toBe(2);
  // Another process's job, later: the four left, each once.
  stopping = false;
  r.answer = () => new Response('ok');
  const later = deliverySettingsFor(h, { guard: anyAddress, batchSize: 2 });
  expect(await deliverEndpoint(h.db, later, endpointId)).toMatchObject({ succeeded: 4, failed: 0 });
  expect(r.requests).toBe(6);
  expect(r.bodies.map((b) => String(b.data.id)).sort()).toEqual([...orders].sort());
});

test('stopping a worker set stops its endpoint job after the batch in flight: the event left is not sent by it, and goes later', async () => {
  const r = receiver();
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  r.answer = async () => {
    await held;
    return new Response('ok');
  };
  const endpointId = await endpointFor(r);
  // In a failing spell the job first probes with one round (WEBHOOK_ENDPOINT_CONCURRENCY, 5) before a
  // whole batch: with no saga worker, six orders' order.created are two batches.
  await h.pool.query('UPDATE webhook_endpoints SET failing_since = NOW(3) WHERE id = ?', [endpointId]);
  const orders = await place(6);
  const w = await startTestWorkers(h, { queues: ['webhooks'], concurrency: 2 });
  await eventually(
    async () => r.requests,
    (n) => n >= 5,
    10_000,
  );
  // The shutdown begins while the first batch's sends wait for their answers.
  const stopped = w.stop();
  release();
  await stopped;
  expect(r.requests).toBe(5);
  // The sixth is still owed: the next job (another process's) sends it, once.
  r.answer = () => new Response('ok');
  const later = deliverySettingsFor(h, { guard: anyAddress });
  expect(await deliverEndpoint(h.db, later, endpointId)).toMatchObject({ succeeded: 1, failed: 0 });
  expect(r.requests).toBe(6);
  expect(r.bodies.map((b) => String(b.data.id)).sort()).toEqual([...orders].sort());
}, 30_000);
