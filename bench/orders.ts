/**
 * End-to-end benchmark: a real API on a socket and real workers (in this process), a private
 * database and Redis prefix, N orders placed over HTTP with C in flight, until every order is final.
 * Usage: bun run bench -- [--orders 2000] [--concurrency 50] [--workers 50] [--processes 0]
 * With --processes N the workers run as N separate `bun run workers/main.ts` processes (as in
 * production) instead of inside the benchmark's process.
 */
import { cpus, hostname } from 'node:os';
import { assembleApi } from '../api/assemble';
import { dropDatabase, migrateDatabase } from '../db/migrate';
import { issueTokenPair } from '../domain/auth/tokens';
import { createProduct } from '../domain/catalog/products';
import { registerUser } from '../domain/users/users';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { openResources } from '../lib/resources';
import { createQueues } from '../lib/wiring';
import { deletePrefixedKeys } from '../queues/connection';
import { queueNames } from '../queues/contract';
import { buildWorkerDeps } from '../workers/deps';
import { startWorkers } from '../workers/run';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ORDERS = arg('orders', 2000);
const IN_FLIGHT = arg('concurrency', 50);
const WORKER_CONCURRENCY = arg('workers', 50);
const PROCESSES = arg('processes', 0);

const suffix = `bench_${Date.now().toString(36)}`;
const config = loadConfig({
  ...process.env,
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  DATABASE_URL: `${process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'}/of${suffix}`,
  QUEUE_PREFIX: `of${suffix}`,
  RATE_LIMITS: 'off',
  EMAIL_RATE_MAX: '10000',
  DATABASE_POOL_SIZE: '40',
  // One user places every order in seconds, which fraud screening rightly finds suspicious: orders are
  // still screened (its cost is measured), but no decision is taken by score unless asked.
  RISK_REVIEW_AT: process.env.RISK_REVIEW_AT ?? '2',
  RISK_REJECT_AT: process.env.RISK_REJECT_AT ?? '2',
});
await migrateDatabase(config.DATABASE_URL);
const logger = createLogger('silent');
const api = await assembleApi(config, logger);
const { resources } = api;
const { queues } = api.deps;
const server = Bun.serve({ port: 0, fetch: api.app.fetch });

// The workers get their own connections, as a worker process would.
const workerConn = await openResources(config, 'worker');
const workerQueues = createQueues(config, workerConn.redis);
const children = Array.from({ length: PROCESSES }, () =>
  Bun.spawn(['bun', 'run', 'workers/main.ts', '--concurrency', String(WORKER_CONCURRENCY)], {
    cwd: new URL('..', import.meta.url).pathname,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: config.DATABASE_URL,
      REDIS_URL: config.REDIS_URL,
      QUEUE_PREFIX: config.QUEUE_PREFIX,
      EMAIL_RATE_MAX: '10000',
      DATABASE_POOL_SIZE: '40',
      RISK_REVIEW_AT: String(config.RISK_REVIEW_AT),
      RISK_REJECT_AT: String(config.RISK_REJECT_AT),
    },
    stdout: 'ignore',
    stderr: 'inherit',
  }),
);
const workers =
  PROCESSES > 0
    ? undefined
    : await startWorkers(
        buildWorkerDeps(config, workerConn, logger, { queues: workerQueues }),
        [...queueNames],
        WORKER_CONCURRENCY,
      );
while (PROCESSES > 0 && (await queues.queues.notify.getWorkers()).length < PROCESSES) await Bun.sleep(100);

const user = await registerUser(resources.db, config.piiKey, {
  email: 'bench@example.test',
  password: 'bench-password',
  name: 'Bench',
});
const { accessToken } = await issueTokenPair(
  resources.db,
  { secret: config.jwtSecret, accessTtlSeconds: 3600, refreshTtlSeconds: 3600 },
  { userId: user.id, role: 'user' },
);
const product = await createProduct(resources.db, {
  sku: 'BENCH',
  name: 'Bench',
  priceCents: 100,
  currency: 'EUR',
  available: ORDERS,
});

const url = `http://127.0.0.1:${server.port}/orders`;
const body = JSON.stringify({
  items: [{ productId: product.id, quantity: 1 }],
  payment: { token: 'tok_visa' },
});
const latencies: number[] = [];
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (next < ORDERS) {
      next++;
      const t = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
      });
      if (res.status !== 202) throw new Error(`POST /orders answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
      latencies.push(performance.now() - t);
    }
  }),
);
const accepted = performance.now();
for (;;) {
  const [rows] = await resources.pool.query(
    "SELECT COUNT(*) AS n FROM orders WHERE status IN ('completed','rejected','payment_failed','cancelled','failed')",
  );
  if (Number((rows as { n: number }[])[0]?.n) >= ORDERS) break;
  await Bun.sleep(50);
}
const finished = performance.now();

latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  (latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0).toFixed(1);
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { host: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model, bun: Bun.version },
      orders: ORDERS,
      httpInFlight: IN_FLIGHT,
      workerConcurrency: WORKER_CONCURRENCY,
      workerProcesses: PROCESSES || 'in-process',
      acceptPerSecond: Math.round(ORDERS / ((accepted - started) / 1000)),
      postOrdersLatencyMs: { p50: pct(50), p95: pct(95), p99: pct(99) },
      endToEndOrdersPerSecond: Math.round(ORDERS / ((finished - started) / 1000)),
      allFinalAfterSeconds: ((finished - started) / 1000).toFixed(2),
    },
    null,
    2,
  ),
);

await server.stop(true);
await workers?.close(5000);
for (const child of children) child.kill('SIGTERM');
await Promise.all(children.map((c) => c.exited));
await workerQueues.close();
await workerConn.close();
await deletePrefixedKeys(resources.redis, config.QUEUE_PREFIX);
await api.close();
await dropDatabase(config.DATABASE_URL);
process.exit(0);
