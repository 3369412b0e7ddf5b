import { afterAll, beforeAll, expect, test } from 'bun:test';
import { networkInterfaces } from 'node:os';
import type { RowDataPacket } from 'mysql2';
import { gatewayCallLog, killProcess, spawnWorkerProcess, type WorkerProcess } from './support/faults';
import { createHarness, type Harness } from './support/harness';
import { freePort } from './support/processes';
import { resendStandIn } from './support/resend-stand-in';
import { shop } from './support/shop';
import { drained, eventually } from './support/workers';

let h: Harness;
const children: WorkerProcess[] = [];
// Counted where the calls arrive: a gateway call log both processes append to, and a Resend
// stand-in both send their email to (the real SDK).
const gatewayCalls = gatewayCallLog();
const provider = resendStandIn();

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await Promise.all(children.map(killProcess));
  await provider.stop();
  gatewayCalls.remove();
  await h.cleanup();
});

interface LogLine {
  msg?: string;
  orderId?: string;
  step?: string;
}

/** The JSON log lines a process wrote so far (its own record of each step it ran and each send). */
const linesOf = (p: WorkerProcess): LogLine[] =>
  p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

test('two worker processes on the same queues: every order is carried out once, by one of them', async () => {
  const env = {
    ...gatewayCalls.env,
    ...provider.env,
    LOG_LEVEL: 'info',
    GATEWAY_LATENCY_MS: '30',
    EMAIL_RATE_MAX: '1000',
    JOB_BACKOFF_MS: '50',
  };
  // Small concurrency, so neither process can take the whole load alone.
  for (let i = 0; i < 2; i++) children.push(spawnWorkerProcess(h, env, ['--concurrency', '3']));
  await eventually(
    async () => {
      for (const c of children)
        if (c.proc.exitCode !== null) throw new Error(`a worker process exited:\n${c.output()}`);
      const q = h.deps.queues.queues;
      return Promise.all(
        [q.reserve, q.charge, q.notify, q.deliver].map(async (x) => (await x.getWorkers()).length),
      );
    },
    (counts) => counts.every((n) => n >= 2),
    30_000,
  );

  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const p = await s.product(100, 500);
  const ids = await Promise.all(
    Array.from({ length: 40 }, async () => {
      const res = await s.place(user.token, p, 1);
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
    60_000,
  );
  // Nothing left that could run a step or send again: every job drained, every customer told.
  await drained(h.deps.queues, () => ids.every((id) => provider.of(id).length > 0));

  // Counted from both processes' own records: each step of each order ran once, in one process.
  const all = children.flatMap((c, i) => linesOf(c).map((l) => ({ ...l, proc: i })));
  const ran = (step: string, id: string) => all.filter((l) => l.msg === `${step} done` && l.orderId === id);
  const wrong = ids.flatMap((id) => {
    const counts = {
      reserve: ran('reserve', id).length,
      charge: ran('charge', id).length,
      notify: ran('notify', id).length,
    };
    return Object.values(counts).every((n) => n === 1) ? [] : [{ id, ...counts }];
  });
  expect(wrong).toEqual([]);
  // Both processes took charges from the one queue.
  const chargedBy = [0, 1].map((i) => all.filter((l) => l.msg === 'charge done' && l.proc === i).length);
  expect(chargedBy.every((n) => n > 0)).toBe(true);
  expect(chargedBy.reduce((a, b) => a + b, 0)).toBe(ids.length);
  // Counted where the calls arrive: one charge call per order at the gateway (from either process),
  // none under another key, and one email per customer at the provider.
  const keys = new Set(ids.map((id) => `chg_${id}`));
  expect(gatewayCalls.calls().filter((c) => c.kind !== 'charge' || !keys.has(c.key))).toEqual([]);
  expect(ids.map((id) => gatewayCalls.chargeCalls(id))).toEqual(ids.map(() => 1));
  expect(ids.map((id) => provider.of(id).length)).toEqual(ids.map(() => 1));
  expect(await s.stock(p)).toEqual({ available: 60, reserved: 0 });

  // Both stop cleanly when told to.
  for (const c of children) c.proc.kill('SIGTERM');
  expect(await Promise.all(children.map((c) => c.proc.exited))).toEqual([0, 0]);
}, 120_000);

test('a worker run alone serves /metrics on WORKER_METRICS_PORT, only to a Bearer METRICS_TOKEN', async () => {
  const port = await freePort();
  const token = 'worker-metrics-token-0123';
  const child = spawnWorkerProcess(h, { WORKER_METRICS_PORT: String(port), METRICS_TOKEN: token }, [
    '--concurrency',
    '1',
  ]);
  children.push(child);
  const url = `http://127.0.0.1:${port}/metrics`;
  const scrape = (authorization?: string) =>
    fetch(url, authorization ? { headers: { authorization } } : {}).catch(() => undefined);
  // Up once it answers at all (a real process: it connects to MySQL and Redis first).
  const anonymous = await eventually(
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`the worker exited:\n${child.output()}`);
      return scrape();
    },
    (res) => res !== undefined,
    30_000,
  );
  expect(anonymous?.status).toBe(401);
  expect(anonymous?.headers.get('www-authenticate')).toContain('Bearer');
  expect((await scrape(`Bearer ${token}-not`))?.status).toBe(401);
  expect((await scrape(token))?.status).toBe(401);
  const ok = await scrape(`Bearer ${token}`);
  expect(ok?.status).toBe(200);
  expect(ok?.headers.get('content-type')).toContain('text/plain');
  const text = (await ok?.text()) ?? '';
  // The worker's own series: its jobs and its screening, and the shared scan of the orders.
  for (const name of ['job_processing_seconds', 'fraud_decisions_total', 'orders_by_status'])
    expect(text).toContain(`# TYPE ${name}`);
  // By default it listens on loopback only: this machine's other address does not reach it.
  const outside = `http://${externalAddress()}:${port}/metrics`;
  expect(await fetch(outside, { headers: { authorization: `Bearer ${token}` } }).catch(() => 'refused')).toBe(
    'refused',
  );
}, 60_000);

test("WORKER_METRICS_HOST puts the worker's /metrics on the address the operator chose", async () => {
  const port = await freePort();
  const child = spawnWorkerProcess(h, { WORKER_METRICS_PORT: String(port), WORKER_METRICS_HOST: '0.0.0.0' }, [
    '--concurrency',
    '1',
  ]);
  children.push(child);
  const res = await eventually(
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`the worker exited:\n${child.output()}`);
      return fetch(`http://${externalAddress()}:${port}/metrics`).catch(() => undefined);
    },
    (r) => r !== undefined,
    30_000,
  );
  expect(res?.status).toBe(200);
}, 60_000);

/** An IPv4 address of this machine other than loopback (the test needs one to tell the two apart). */
function externalAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!found) throw new Error('this machine has no non-loopback IPv4 address to test the bind address with');
  return found.address;
}
