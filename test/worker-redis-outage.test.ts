import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import {
  gatewayCallLog,
  killProcess,
  spawnWorkerProcess,
  type TcpProxy,
  tcpProxy,
  type WorkerProcess,
} from './support/faults';
import { createHarness, type Harness } from './support/harness';
import { resendStandIn } from './support/resend-stand-in';
import { shop } from './support/shop';
import { drained, eventually } from './support/workers';

/**
 * A worker process's Redis connection (auto-pipelined: lib/redis.ts) is cut while it is busy,
 * with commands of many jobs in flight in one pipeline, and comes back: the process must carry on by
 * itself, every order ending once, charged once and told once.
 */
let h: Harness;
let proxy: TcpProxy;
const children: WorkerProcess[] = [];
// Counted where the calls arrive: the gateway (a call log the worker process appends to) and the
// email provider (a Resend stand-in the process sends to through the real SDK).
const gatewayCalls = gatewayCallLog();
const provider = resendStandIn();

beforeAll(async () => {
  h = await createHarness();
  proxy = await tcpProxy(h.config.REDIS_URL);
});
afterAll(async () => {
  await Promise.all(children.map(killProcess));
  await proxy.restore();
  await provider.stop();
  gatewayCalls.remove();
  await h.cleanup();
});

const count = async (sql: string, params: unknown[]) => {
  const [rows] = await h.pool.query<RowDataPacket[]>(sql, params);
  return Number(rows[0]?.n);
};

test('a worker process whose Redis is cut mid-load resumes by itself once Redis is back', async () => {
  const worker = spawnWorkerProcess(
    h,
    {
      ...gatewayCalls.env,
      ...provider.env,
      REDIS_URL: proxy.url,
      GATEWAY_LATENCY_MS: '20',
      // Jobs whose locks lapsed during the cut are taken back by the stalled-job check.
      WORKER_LOCK_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      EMAIL_RATE_MAX: '1000',
      JOB_BACKOFF_MS: '50',
    },
    ['--concurrency', '10'],
  );
  children.push(worker);
  await eventually(
    async () => {
      if (worker.proc.exitCode !== null) throw new Error(`the worker process exited:\n${worker.output()}`);
      const q = h.deps.queues.queues;
      return Promise.all(
        [q.reserve, q.charge, q.notify, q.deliver].map(async (x) => (await x.getWorkers()).length),
      );
    },
    (counts) => counts.every((n) => n >= 1),
    30_000,
  );

  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const p = await s.product(1000, 500);
  const place = async (n: number) =>
    Promise.all(
      Array.from({ length: n }, async () => {
        const res = await s.place(user.token, p, 1);
        expect(res.status).toBe(202);
        return ((await res.json()) as { id: string }).id;
      }),
    );
  const completed = (ids: string[]) =>
    count("SELECT COUNT(*) AS n FROM orders WHERE status = 'completed' AND id IN (?)", [ids]);

  const ids = await place(60);
  // Cut while the process is mid-load: some orders done, others in its hands.
  await eventually(
    () => completed(ids),
    (n) => n >= 3,
    30_000,
  );
  await proxy.cut();
  expect(await completed(ids)).toBeLessThan(ids.length);
  // Orders keep coming while the worker cannot reach Redis (the API's own connection is fine).
  ids.push(...(await place(20)));
  await Bun.sleep(1500);
  await proxy.restore();

  await eventually(
    () => completed(ids),
    (n) => n === ids.length,
    60_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nworker output:\n${worker.output()}`);
  });
  expect(worker.proc.exitCode).toBeNull();
  // Nothing left that could charge or send again: every job drained, every customer told.
  await drained(h.deps.queues, () => ids.every((id) => provider.of(id).length > 0), 60_000);
  // Once each, counted where it arrives: one charge call per order (a job re-run after the cut finds
  // its order paid and asks nothing), under the order's key, and one email per customer.
  const keys = new Set(ids.map((id) => `chg_${id}`));
  expect(gatewayCalls.calls().filter((c) => c.kind !== 'charge' || !keys.has(c.key))).toEqual([]);
  expect(ids.map((id) => gatewayCalls.chargeCalls(id))).toEqual(ids.map(() => 1));
  expect(ids.map((id) => provider.of(id).length)).toEqual(ids.map(() => 1));
  expect(await s.stock(p)).toEqual({ available: 1000 - ids.length, reserved: 0 });
}, 120_000);
