/** The two ceilings an Orderflow run is judged against, measured in the same run on the same machine. */
import { FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { createRedis } from '../lib/redis';
import { defaultJobOptions } from '../queues/contract';
import { orderFlow } from '../queues/flows';
import { cpuMs, processTree, redisCommands } from './counters';

export interface FlowCeiling {
  flows: number;
  flowsPerSecond: number;
  redisCommandsPerFlow: number;
  /** Calls per flow by command (commands inside BullMQ's Lua scripts included, as INFO counts them). */
  redisByCommand: Record<string, number>;
  workerCpuMsPerFlow: number;
  /** The Redis server's CPU per flow (private servers only; 0 otherwise). */
  redisCpuMsPerFlow: number;
}

/**
 * The bare reserve → charge → notify flow, built by the same flow builder and job options as
 * Orderflow's, with no-op processors in a separate process (50 jobs in flight per queue). Flows are
 * added while the backlog stays under a bound, for `seconds`; then we wait for the last to finish.
 */
export async function measureFlowCeiling(
  redisUrl: string,
  admin: Redis,
  seconds: number,
  concurrency = 50,
  redisPid?: number,
): Promise<FlowCeiling> {
  const prefix = `bench_ceiling_${Date.now().toString(36)}`;
  const worker = Bun.spawn(['bun', 'bench/noop-worker.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: {
      ...process.env,
      BENCH_REDIS_URL: redisUrl,
      BENCH_PREFIX: prefix,
      BENCH_CONCURRENCY: String(concurrency),
    },
    stdout: 'ignore',
    stderr: 'inherit',
  });
  const conn = createRedis(redisUrl, 'worker', 'bench-ceiling-producer');
  const flows = new FlowProducer({ connection: conn, prefix });
  const notify = new Queue('notify', { connection: conn, prefix });
  try {
    while ((await notify.getWorkers()).length < 1) await Bun.sleep(50);
    const defaults = defaultJobOptions({ attempts: 8, backoffMs: 1000 });
    // One HGET per poll of the completed count that `metrics` keeps; subtracted from the cost below.
    let polls = 0;
    const done = async () => {
      polls++;
      return Number((await admin.hget(`${prefix}:notify:metrics:completed`, 'count')) ?? 0);
    };
    const before = await redisCommands(admin);
    const cpuBefore = cpuMs(processTree(worker.pid));
    const redisBefore = redisPid ? cpuMs([redisPid]) : 0;
    const started = performance.now();
    let added = 0;
    while (performance.now() - started < seconds * 1000) {
      const finished = await done();
      if (added - finished > 500) {
        await Bun.sleep(5);
        continue;
      }
      const batch = Array.from({ length: 50 }, () =>
        orderFlow(prefix, defaults, `ord_ceiling_${++added}`, 'reserve'),
      );
      await flows.addBulk(batch);
    }
    while ((await done()) < added) await Bun.sleep(20);
    const elapsed = (performance.now() - started) / 1000;
    const cpu = cpuMs(processTree(worker.pid)) - cpuBefore;
    const redisCpu = redisPid ? cpuMs([redisPid]) - redisBefore : 0;
    const after = await redisCommands(admin);
    return {
      flows: added,
      flowsPerSecond: Math.round(added / elapsed),
      redisCommandsPerFlow: round((after.total - before.total - polls) / added),
      redisByCommand: perItem(after.byCommand, before.byCommand, added, { hget: polls }),
      workerCpuMsPerFlow: round(cpu / added, 3),
      redisCpuMsPerFlow: round(redisCpu / added, 3),
    };
  } finally {
    worker.kill('SIGTERM');
    await worker.exited;
    await notify.obliterate({ force: true }).catch(() => {});
    for (const q of ['reserve', 'charge']) {
      const queue = new Queue(q, { connection: conn, prefix });
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
    await notify.close();
    await flows.close();
    conn.disconnect();
  }
}

export interface CommitCeiling {
  inFlight: number;
  commitsPerSecond: number;
}

/**
 * MariaDB's durable-commit ceiling: transactions shaped like a reservation (UPDATE a stock row,
 * INSERT an order row, COMMIT), `inFlight` at a time, for `seconds`.
 */
export async function measureCommitCeiling(
  mysqlUrl: string,
  seconds: number,
  inFlight = 32,
): Promise<CommitCeiling> {
  const db = `bench_commit_${Date.now().toString(36)}`;
  const admin = await mysql.createConnection({ uri: mysqlUrl });
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.query(`CREATE TABLE ${db}.stock (id INT PRIMARY KEY, available INT NOT NULL) ENGINE=InnoDB`);
  await admin.query(
    `CREATE TABLE ${db}.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, product INT NOT NULL, at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
  );
  await admin.query(
    `INSERT INTO ${db}.stock VALUES ${Array.from({ length: 64 }, (_, i) => `(${i}, 1000000000)`).join(',')}`,
  );
  const pool = mysql.createPool({ uri: `${mysqlUrl}/${db}`, connectionLimit: inFlight });
  let commits = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      const conn = await pool.getConnection();
      try {
        while (performance.now() < deadline) {
          const product = Math.floor(Math.random() * 64);
          await conn.query('BEGIN');
          await conn.query('UPDATE stock SET available = available - 1 WHERE id = ?', [product]);
          await conn.query('INSERT INTO orders (product, at) VALUES (?, NOW(3))', [product]);
          await conn.query('COMMIT');
          commits++;
        }
      } finally {
        conn.release();
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.end();
  await admin.query(`DROP DATABASE ${db}`);
  await admin.end();
  return { inFlight, commitsPerSecond: Math.round(commits / elapsed) };
}

/** Calls per item by command, largest first, without the benchmark's own calls. */
export function perItem(
  after: Record<string, number>,
  before: Record<string, number>,
  items: number,
  own: Record<string, number> = {},
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([c, n]) => [c, round((n - (before[c] ?? 0) - (own[c] ?? 0)) / Math.max(1, items), 2)] as const)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]),
  );
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
