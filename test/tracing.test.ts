import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import { createHarness, type Harness } from './support/harness';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver';
import { freePort, type Spawned, spawnBun } from './support/processes';
import { shop } from './support/shop';
import { type Receiver, startReceiver } from './support/webhook-receiver';
import { eventually } from './support/workers';

/**
 * One order, one trace, across the API and two worker processes (each a real process exporting over
 * OTLP/HTTP JSON to a receiver this test runs). The workers split the queues, so a completed order's
 * steps run in three processes: the API, the reserve/notify/webhooks worker and the charge/deliver
 * worker. A webhook endpoint (a receiver on loopback) gets every event: its deliveries are spans of
 * the orders' traces too.
 */
let h: Harness;
let receiver: OtlpReceiver;
let api: Spawned;
let base: string;
const procs: Spawned[] = [];
let hooks: Receiver;
/** A query string on the endpoint's URL: a place customers put tokens, never to be recorded. */
const HOOK_QUERY_TOKEN = `hookquery_${crypto.randomUUID().replaceAll('-', '')}`;

const CUSTOMER_PASSWORD_HINT = 'correct horse battery';

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: h.config.DATABASE_URL,
    REDIS_URL: h.config.REDIS_URL,
    QUEUE_PREFIX: h.config.QUEUE_PREFIX,
    JWT_SECRET: h.config.jwtSecret,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    RATE_LIMITS: 'off',
    RISK_REVIEW_AT: String(h.config.RISK_REVIEW_AT),
    RISK_REJECT_AT: String(h.config.RISK_REJECT_AT),
    GATEWAY_LATENCY_MS: '5',
    EMAIL_RATE_MAX: '1000',
    JOB_BACKOFF_MS: '50',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    WEBHOOK_ALLOW_PRIVATE: 'on',
    WEBHOOK_DISPATCH_EVERY_MS: '100',
    ...extra,
  };
}

const instance = (s: ReceivedSpan) => String(s.resource['service.instance.id']);

beforeAll(async () => {
  h = await createHarness();
  receiver = startOtlpReceiver();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  api = spawnBun(['run', 'api/start/server.ts'], env({ PORT: String(port) }));
  procs.push(api);
  procs.push(
    spawnBun(['run', 'workers/main.ts', '--queues', 'reserve,notify,webhooks', '--concurrency', '4'], env()),
  );
  procs.push(spawnBun(['run', 'workers/main.ts', '--queues', 'charge,deliver', '--concurrency', '4'], env()));
  await eventually(
    async () => {
      for (const p of procs)
        if (p.proc.exitCode !== null) throw new Error(`a process exited:\n${p.text.join('\n')}`);
      const q = h.deps.queues.queues;
      const workers = await Promise.all(
        [q.reserve, q.charge, q.notify, q.deliver, q.webhooks].map((x) => x.getWorkers()),
      );
      const up = await fetch(`${base}/health/live`).then(
        (r) => r.ok,
        () => false,
      );
      return { up, workers: workers.map((w) => w.length) };
    },
    (ready) => ready.up && ready.workers.every((n) => n >= 1),
    60_000,
  );
}, 90_000);

afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.proc.exited));
  await receiver.stop();
  await hooks?.stop();
  await h.cleanup();
});

async function call(method: string, path: string, token: string, body?: unknown, headers = {}) {
  return fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function statusOf(id: string): Promise<string | undefined> {
  const [rows] = await h.pool.query<RowDataPacket[]>('SELECT status FROM orders WHERE id = ?', [id]);
  return rows[0]?.status as string | undefined;
}

/** The request span that placed the order (the API sets `order.id` on it). */
const requestSpanOf = (id: string) =>
  receiver.spans.find((s) => s.kind === 2 && s.attributes['order.id'] === id && s.name.startsWith('POST'));

/** The spans of a trace whose parent is not (yet) in it, besides its root. */
function orphansOf(spans: ReceivedSpan[], root: ReceivedSpan | undefined): ReceivedSpan[] {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.filter((s) => s !== root && !ids.has(s.parentSpanId));
}

/**
 * Waits until the order's trace holds every span named and each of its spans' parents (processes
 * export on their own schedules, so a child may arrive before its parent).
 */
async function traceOf(
  id: string,
  names: string[],
  also: (spans: ReceivedSpan[]) => boolean = () => true,
): Promise<ReceivedSpan[]> {
  return eventually(
    async () => {
      const root = requestSpanOf(id);
      return root ? receiver.spans.filter((s) => s.traceId === root.traceId) : [];
    },
    (spans) =>
      names.every((n) => spans.some((s) => s.name === n && (s.attributes['order.id'] ?? id) === id)) &&
      orphansOf(spans, requestSpanOf(id)).length === 0 &&
      also(spans),
    30_000,
  );
}

/** The `webhook deliver` span of the order's event of this type, among `spans`. */
const webhookSpanOf = (spans: ReceivedSpan[], id: string, type: string) =>
  spans.find(
    (s) =>
      s.name === 'webhook deliver' &&
      s.attributes['order.id'] === id &&
      s.attributes['webhook.event.type'] === type,
  );

/** Every span of a trace reaches its root through parents that are in the trace (no orphans). */
function expectConnected(spans: ReceivedSpan[], root: ReceivedSpan) {
  expect(orphansOf(spans, root).map((s) => s.name)).toEqual([]);
}

describe('one trace per order', () => {
  let admin: { id: string; token: string };
  let user: { id: string; email: string; token: string };
  let product: string;
  let endpoint: { id: string; secret: string };
  const placed: Record<'completed' | 'declined' | 'reviewed', string> = {
    completed: '',
    declined: '',
    reviewed: '',
  };

  beforeAll(async () => {
    admin = await h.signUp('admin');
    user = await h.signUp('user');
    product = await shop(h, admin).product(100, 700);
    // Every event of the orders below is delivered to this receiver (it verifies each signature).
    hooks = startReceiver();
    const saved = await call('POST', '/webhook-endpoints', admin.token, {
      url: `${hooks.url}?key=${HOOK_QUERY_TOKEN}`,
      events: ['*'],
    });
    expect(saved.status).toBe(201);
    endpoint = (await saved.json()) as { id: string; secret: string };
    hooks.secret = endpoint.secret;
    const place = async (token: string) => {
      const res = await call('POST', '/orders', user.token, {
        items: [{ productId: product, quantity: 1 }],
        payment: { token },
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    // Placed together: one placing batch (one addBulk) carries the three flows.
    [placed.completed, placed.declined, placed.reviewed] = await Promise.all([
      place('tok_visa'),
      place('tok_chargeDeclined'),
      place('tok_riskLevelElevated'),
    ]);
    await eventually(
      () => statusOf(placed.reviewed),
      (s) => s === 'review',
      30_000,
    );
    const res = await call('POST', `/orders/${placed.reviewed}/review`, admin.token, { decision: 'approve' });
    expect(res.status).toBe(200);
    for (const [id, final] of [
      [placed.completed, 'completed'],
      [placed.declined, 'payment_failed'],
      [placed.reviewed, 'completed'],
    ] as const) {
      await eventually(
        () => statusOf(id),
        (s) => s === final,
        30_000,
      );
    }
  }, 90_000);

  test('a completed order: request, reserve, charge (screen, gateway), notify and deliver in one trace over three processes', async () => {
    const id = placed.completed;
    // The batch spans (other traces, linked) end after the order's own spans: wait for them too.
    const linkedFrom = (name: string, spanId: string) =>
      receiver.spans.some((s) => s.name === name && s.links.some((l) => l.spanId === spanId));
    const spans = await traceOf(
      id,
      ['process reserve', 'process charge', 'screen', 'gateway charge', 'process notify', 'deliver'],
      (all) =>
        ['reserve', 'charge', 'notify'].every((step) =>
          all.some((s) => s.name === `process ${step}` && linkedFrom(`${step} batch`, s.spanId)),
        ) &&
        all.some((s) => s.name === 'process notify' && linkedFrom('deliver batch', s.spanId)) &&
        linkedFrom('place batch', requestSpanOf(id)?.spanId ?? ''),
    );
    const root = requestSpanOf(id) as ReceivedSpan;
    // The request span is the root, with the route, status and user id an operator filters by.
    expect(root.parentSpanId).toBe('');
    expect(root.attributes['http.route']).toBe('/orders');
    expect(root.attributes['http.response.status_code']).toBe(202);
    expect(root.attributes['user.id']).toBe(user.id);
    expectConnected(spans, root);
    expect(new Set(spans.map(instance)).size).toBeGreaterThanOrEqual(3);

    // Each saga step is BullMQ's `process` span of the order's job, with queue, job and attempt; its
    // parent is the span the job was added in (the request for the first step).
    for (const step of ['reserve', 'charge', 'notify']) {
      const span = spans.find((s) => s.name === `process ${step}` && s.attributes['order.id'] === id);
      expect(span?.attributes['messaging.destination.name']).toBe(step);
      expect(String(span?.attributes['job.id'])).toContain(id);
      expect(span?.attributes['job.attempt']).toBe(1);
      expect(span?.kind).toBe(5); // CONSUMER
    }
    expect(spans.find((s) => s.name === 'process reserve')?.parentSpanId).toBe(root.spanId);
    // BullMQ's bookkeeping spans (adding each node of the flow, completing a job, the stalled-job
    // timers) are not recorded: they doubled an order's spans and say nothing a `process` span does not.
    const bookkeeping = receiver.spans.filter((s) =>
      /^(addNode|addBulkFlows|addFlow|complete|moveStalled|startStalled)/.test(s.name),
    );
    expect(bookkeeping.map((s) => s.name)).toEqual([]);
    // Screening and the gateway call are children of the charge step, in the worker that charged.
    const charge = spans.find((s) => s.name === 'process charge') as ReceivedSpan;
    const gateway = spans.find((s) => s.name === 'gateway charge') as ReceivedSpan;
    expect(gateway.parentSpanId).toBe(charge.spanId);
    expect(gateway.attributes['gateway.outcome']).toBe('succeeded');
    expect(spans.find((s) => s.name === 'screen')?.parentSpanId).toBe(charge.spanId);
    expect(instance(gateway)).toBe(instance(charge));
    expect(instance(charge)).not.toBe(instance(root));
    expect(instance(spans.find((s) => s.name === 'process reserve') as ReceivedSpan)).not.toBe(
      instance(charge),
    );

    // The group-committed batches are spans of their own traces that link to the order's step spans.
    for (const step of ['reserve', 'charge', 'notify']) {
      const own = spans.find((s) => s.name === `process ${step}`) as ReceivedSpan;
      const batch = receiver.spans.find(
        (s) => s.name === `${step} batch` && s.links.some((l) => l.spanId === own.spanId),
      );
      expect(batch, `${step} batch`).toBeDefined();
      expect(batch?.traceId).not.toBe(own.traceId);
      expect(batch?.parentSpanId).toBe('');
      expect(Number(batch?.attributes['batch.size'])).toBeGreaterThanOrEqual(1);
      expect(batch?.links.find((l) => l.spanId === own.spanId)?.traceId).toBe(own.traceId);
    }
    // The placing batch links to the request span too.
    const placing = receiver.spans.find(
      (s) => s.name === 'place batch' && s.links.some((l) => l.spanId === root.spanId),
    );
    expect(placing).toBeDefined();
    expect(placing?.traceId).not.toBe(root.traceId);
    // The email's delivery: a span of this order's trace under its notify step, sent by the other
    // worker; the send batch that carried it is a span of the notify batch's trace, linked to the order.
    const notify = spans.find((s) => s.name === 'process notify') as ReceivedSpan;
    const deliver = spans.find((s) => s.name === 'deliver' && s.attributes['order.id'] === id);
    expect(deliver?.attributes['notification.channel']).toBe('email');
    expect(deliver?.parentSpanId).toBe(notify.spanId);
    expect(instance(deliver as ReceivedSpan)).not.toBe(instance(notify));
    const deliverBatch = receiver.spans.find(
      (s) => s.name === 'deliver batch' && s.links.some((l) => l.spanId === notify.spanId),
    );
    expect(deliverBatch?.traceId).not.toBe(root.traceId);
    expect(instance(deliverBatch as ReceivedSpan)).toBe(instance(deliver as ReceivedSpan));
  }, 60_000);

  test("a completed order's webhook deliveries: spans of its trace, under the spans that made the events, linked from their batch", async () => {
    const id = placed.completed;
    const spans = await traceOf(
      id,
      ['process notify', 'webhook deliver'],
      (all) =>
        webhookSpanOf(all, id, 'order.created') !== undefined &&
        webhookSpanOf(all, id, 'order.completed') !== undefined,
    );
    const root = requestSpanOf(id) as ReceivedSpan;
    expectConnected(spans, root);
    const created = webhookSpanOf(spans, id, 'order.created') as ReceivedSpan;
    const completed = webhookSpanOf(spans, id, 'order.completed') as ReceivedSpan;
    // Each is a child of the span that wrote its event: the request for order.created, the order's own
    // notify step (not the notify batch) for order.completed; sent by the webhooks worker.
    expect(created.parentSpanId).toBe(root.spanId);
    const notify = spans.find((s) => s.name === 'process notify' && s.attributes['order.id'] === id);
    expect(completed.parentSpanId).toBe(notify?.spanId as string);
    for (const span of [created, completed]) {
      expect(span.kind).toBe(3); // CLIENT
      expect(instance(span)).not.toBe(instance(root));
      expect(span.attributes['webhook.endpoint.id']).toBe(endpoint.id);
      expect(span.attributes['webhook.delivery.attempt']).toBe(1);
      expect(span.attributes['http.response.status_code']).toBe(200);
      expect(String(span.attributes['webhook.delivery.id'])).toMatch(/\S/);
      // The receiver got (and verified) the event the span names.
      expect(hooks.seen.get(String(span.attributes['webhook.event.id']))).toBeGreaterThanOrEqual(1);
      // Its batch: a span of the endpoint job's trace, linked to the delivery in the order's trace.
      const batch = receiver.spans.find(
        (s) => s.name === 'webhook batch' && s.links.some((l) => l.spanId === span.spanId),
      );
      expect(batch, 'webhook batch').toBeDefined();
      expect(batch?.traceId).not.toBe(root.traceId);
      expect(batch?.attributes['webhook.endpoint.id']).toBe(endpoint.id);
      expect(Number(batch?.attributes['batch.size'])).toBeGreaterThanOrEqual(1);
      expect(batch?.links.find((l) => l.spanId === span.spanId)?.traceId).toBe(root.traceId);
      expect(instance(batch as ReceivedSpan)).toBe(instance(span));
      // …under the span of the endpoint's job (exported when the job ends, maybe after the batch).
      const job = await eventually(
        async () => receiver.spans.find((s) => s.spanId === batch?.parentSpanId),
        (s) => s !== undefined,
        10_000,
      );
      expect(job?.name).toBe('process webhooks');
    }
  }, 60_000);

  test('a declined order: its gateway span says declined, all in one trace', async () => {
    const id = placed.declined;
    const spans = await traceOf(id, [
      'process reserve',
      'process charge',
      'gateway charge',
      'process notify',
      'deliver',
    ]);
    const root = requestSpanOf(id) as ReceivedSpan;
    expectConnected(spans, root);
    const gateway = spans.find((s) => s.name === 'gateway charge');
    expect(gateway?.attributes['gateway.outcome']).toBe('declined');
    expect(spans.find((s) => s.name === 'process charge')?.attributes['order.status']).toBe('payment_failed');
    expect(new Set(spans.map(instance)).size).toBeGreaterThanOrEqual(3);
  }, 60_000);

  test("a reviewed order: the admin's approval continues the order's trace (charge twice, then notify)", async () => {
    const id = placed.reviewed;
    const spans = await traceOf(id, [
      'process reserve',
      'process charge',
      'gateway authorize',
      'gateway capture',
      'process notify',
      'deliver',
    ]);
    const root = requestSpanOf(id) as ReceivedSpan;
    expectConnected(spans, root);
    const charges = spans.filter((s) => s.name === 'process charge' && s.attributes['order.id'] === id);
    expect(charges.map((s) => s.attributes['order.status']).sort()).toEqual(['paid', 'review']);
    // Its money was authorized when it entered review and captured on approval: never charged.
    expect(spans.filter((s) => s.name === 'gateway authorize')).toHaveLength(1);
    expect(spans.filter((s) => s.name === 'gateway capture')).toHaveLength(1);
    expect(spans.filter((s) => s.name === 'gateway charge')).toHaveLength(0);
  }, 60_000);

  test('no attribute anywhere carries an email, a payment token, a bearer token or a secret', async () => {
    await traceOf(placed.reviewed, ['deliver', 'webhook deliver']);
    const secrets = [
      endpoint.secret,
      HOOK_QUERY_TOKEN,
      user.email,
      '@example.test',
      'tok_',
      user.token,
      admin.token,
      h.config.jwtSecret,
      CUSTOMER_PASSWORD_HINT,
    ];
    const leaks = receiver.spans.flatMap((s) =>
      s.values.filter((v) => secrets.some((x) => v.includes(x))).map((v) => `${s.name}: ${v}`),
    );
    // Searched: every span of the three orders' traces, the batches' and the requests' (each order's
    // trace holds at least its request, three steps and a delivery) and the webhook deliveries'.
    expect(receiver.spans.length).toBeGreaterThan(3 * 6);
    expect(receiver.spans.filter((s) => s.name === 'webhook deliver').length).toBeGreaterThanOrEqual(6);
    expect(leaks).toEqual([]);
  });

  test('log lines carry the trace and span ids of the work they describe', async () => {
    const root = requestSpanOf(placed.completed) as ReceivedSpan;
    const lines = procs.flatMap((p) => p.lines);
    const charged = lines.find((l) => l.msg === 'charge done' && l.orderId === placed.completed);
    expect(charged?.traceId).toBe(root.traceId);
    expect(typeof charged?.spanId).toBe('string');
    const request = api.lines.find((l) => l.msg === 'request' && l.orderId === placed.completed);
    expect(request?.traceId).toBe(root.traceId);
    expect(request?.spanId).toBe(root.spanId);
  });
});

describe('an incoming trace', () => {
  test('a traceparent is continued by the request and the saga; a problem answer names the trace', async () => {
    const admin = await h.signUp('admin');
    const user = await h.signUp('user');
    const product = await shop(h, admin).product(10, 300);
    const traceId = crypto.randomUUID().replaceAll('-', '');
    const parent = crypto.randomUUID().replaceAll('-', '').slice(0, 16);
    const traceparent = `00-${traceId}-${parent}-01`;
    const res = await call(
      'POST',
      '/orders',
      user.token,
      { items: [{ productId: product, quantity: 1 }], payment: { token: 'tok_visa' } },
      { traceparent },
    );
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const spans = await traceOf(id, ['process reserve', 'process charge', 'process notify', 'deliver']);
    const root = requestSpanOf(id) as ReceivedSpan;
    expect(root.traceId).toBe(traceId);
    expect(root.parentSpanId).toBe(parent);
    expect(spans.every((s) => s.traceId === traceId)).toBe(true);

    // A problem answer carries the trace it was given…
    const bad = await call('POST', '/orders', user.token, { items: [] }, { traceparent });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { traceId?: string }).traceId).toBe(traceId);
    // …or the one its request started, which the receiver gets.
    const lost = await call('GET', `/orders/${'x'.repeat(20)}`, user.token);
    expect(lost.status).toBe(404);
    const problem = (await lost.json()) as { traceId?: string };
    expect(problem.traceId).toMatch(/^[0-9a-f]{32}$/);
    const span = await eventually(
      async () => receiver.spans.find((s) => s.traceId === problem.traceId && s.kind === 2),
      (s) => s !== undefined,
      10_000,
    );
    expect(span?.attributes['http.response.status_code']).toBe(404);
  }, 60_000);
});

describe('the collector away', () => {
  test('orders complete as before while no span can be exported', async () => {
    const admin = await h.signUp('admin');
    const user = await h.signUp('user');
    const product = await shop(h, admin).product(50, 300);
    await receiver.stop();
    const ids = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await call('POST', '/orders', user.token, {
          items: [{ productId: product, quantity: 1 }],
          payment: { token: 'tok_visa' },
        });
        expect(res.status).toBe(202);
        return ((await res.json()) as { id: string }).id;
      }),
    );
    await eventually(
      async () => {
        const [rows] = await h.pool.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM orders WHERE status = 'completed' AND id IN (?)",
          [ids],
        );
        return Number(rows[0]?.n);
      },
      (n) => n === ids.length,
      30_000,
    );
    for (const p of procs) expect(p.proc.exitCode).toBeNull();
  }, 60_000);
});
