/**
 * `bun run bench/api-only.ts [--rates 100,250,500] [--seconds 4] [--profile DIR]`
 *
 * The API alone: private MariaDB and Redis (as `bun run bench`), one `api/start/server.ts` process and no
 * worker (the orders stay pending, their flows wait in Redis). Orders are placed over HTTP in an open
 * loop at each rate, then with 64 in flight, and the API's CPU per accepted order is read from
 * /proc (its idle CPU, measured first, is shown subtracted too). About 40 s: a quick way to see what
 * a change to the HTTP edge costs per request at low and at high load, without the workers'
 * noise. On a shared machine run one benchmark at a time: two would measure each other.
 */
import mysql from 'mysql2/promise';
import { createDb, createPool } from '../db/client';
import { migrateDatabase } from '../db/migrate';
import { cpuMs, processTree } from './counters';
import { closedLoop, type LoadResult, type LoadTarget, openLoop, percentile } from './load';
import { freePort, seedShop } from './seed';
import { startServers } from './servers';

const argv = process.argv.slice(2);
const option = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const profile = option('profile');
const rates = (option('rates') ?? '100,250,500').split(',').map(Number);
const seconds = Number(option('seconds') ?? 4);

const servers = await startServers(false);
const name = `ofapi_${Date.now().toString(36)}`;
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  NODE_ENV: 'production',
  LOG_LEVEL: 'silent',
  DATABASE_URL: `${servers.mysqlUrl}/${name}`,
  REDIS_URL: servers.redisUrl,
  QUEUE_PREFIX: name,
  JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
  PII_KEY: Buffer.alloc(32, 7).toString('base64'),
  // Production refuses an open /metrics; the benchmark scrapes nothing, a token keeps it closed.
  METRICS_TOKEN: 'bench-metrics-token-0123456789',
  RATE_LIMITS: 'off',
  DATABASE_POOL_SIZE: '20',
};
const admin = mysql.createPool({ uri: servers.mysqlUrl, connectionLimit: 2 });
await migrateDatabase(env.DATABASE_URL as string);
const pool = createPool(env.DATABASE_URL as string, 4);
const db = createDb(pool);
const { loadConfig } = await import('../lib/config');
const config = loadConfig(env);
const { accessToken, productIds } = await seedShop(db, config, { tag: 'API', products: 8, stock: 1_000_000 });
const port = freePort();
const cmd = profile
  ? [
      'bun',
      '--cpu-prof-md',
      `--cpu-prof-dir=${profile}`,
      `--cpu-prof-name=api-${Date.now()}.md`,
      'api/start/server.ts',
    ]
  : ['bun', 'api/start/server.ts'];
const api = Bun.spawn(cmd, {
  cwd: new URL('..', import.meta.url).pathname,
  env: { ...env, PORT: String(port) },
  stdout: 'ignore',
  stderr: 'inherit',
});
const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  const up = await fetch(`${url}/health/live`)
    .then((r) => r.ok)
    .catch(() => false);
  if (up) break;
  if (i > 300) throw new Error('the API did not start');
  await Bun.sleep(100);
}
const target: LoadTarget = { url, token: accessToken, productIds };
const apiCpu = () => cpuMs(processTree(api.pid));

await closedLoop(target, 16, 2); // warm-up: code compiled, connections open
await Bun.sleep(500);
const idleFrom = apiCpu();
await Bun.sleep(3000);
const idlePerSecond = (apiCpu() - idleFrom) / 3;
console.log(`API idle: ${idlePerSecond.toFixed(1)} ms CPU per second`);

async function phase(label: string, run: () => Promise<LoadResult>) {
  const from = apiCpu();
  const started = performance.now();
  const r = await run();
  await Bun.sleep(200); // answers in flight finish
  const elapsed = (performance.now() - started) / 1000;
  const spent = apiCpu() - from;
  const n = Math.max(1, r.accepted.length);
  const sorted = [...r.latencies].sort((a, b) => a - b);
  console.log(
    `${label.padEnd(12)} accepted ${(r.accepted.length / r.seconds).toFixed(0).padStart(5)}/s  ` +
      `API ${(spent / n).toFixed(3)} ms CPU per order (${((spent - idlePerSecond * elapsed) / n).toFixed(3)} without idle)  ` +
      `POST p50/p99 ${percentile(sorted, 50).toFixed(1)}/${percentile(sorted, 99).toFixed(1)} ms  refused ${r.refused}`,
  );
}
for (const rate of rates) await phase(`${rate}/s`, () => openLoop(target, rate, seconds));
await phase('64 in flight', () => closedLoop(target, 64, seconds));

api.kill('SIGTERM');
await api.exited;
await pool.end();
await admin.query(`DROP DATABASE IF EXISTS ${name}`);
await admin.end();
await servers.close();
process.exit(0);
