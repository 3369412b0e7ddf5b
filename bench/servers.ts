/**
 * The servers a benchmark run talks to. By default it starts its own MariaDB and Redis (same binaries,
 * same disk, same durability settings as the shared ones) so that their global counters — SHOW GLOBAL
 * STATUS, INFO commandstats — count this run's work only; on a machine where others run tests the
 * shared servers' counters would mix their queries into our cost sheet. `--shared-servers` uses
 * MYSQL/REDIS at the usual addresses instead (counters then include everyone else's traffic).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

export interface BenchServers {
  mysqlUrl: string;
  redisUrl: string;
  /** True when the counters count only this benchmark's traffic. */
  private: boolean;
  pids: { mysql?: number; redis?: number };
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

async function waitFor(what: string, probe: () => Promise<unknown>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await probe();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} did not start: ${(err as Error).message}`);
      await Bun.sleep(100);
    }
  }
}

export async function startServers(shared: boolean): Promise<BenchServers> {
  if (shared) {
    return {
      mysqlUrl: process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
      redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
      private: false,
      pids: {},
      async close() {},
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-bench-'));
  const [myPort, redisPort] = [await freePort(), await freePort()];
  const install = Bun.spawnSync(
    [
      'mariadb-install-db',
      '--no-defaults',
      `--datadir=${dir}/mysql`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--user=root',
    ],
    { stdout: 'ignore', stderr: 'pipe' },
  );
  if (install.exitCode !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr.toString()}`);
  // The distribution's defaults that matter for a durable commit: a flushed redo log per commit and
  // the binary log off (as in the shared server). The buffer pool is the default 128 MiB.
  const mariadb = Bun.spawn(
    [
      'mariadbd',
      '--no-defaults',
      `--datadir=${dir}/mysql`,
      `--port=${myPort}`,
      '--bind-address=127.0.0.1',
      `--socket=${dir}/mysql.sock`,
      '--user=root',
      '--innodb-flush-log-at-trx-commit=1',
      '--max-connections=500',
      `--log-error=${dir}/mysql.err`,
    ],
    { stdout: 'ignore', stderr: 'ignore' },
  );
  const redis = Bun.spawn(
    ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdout: 'ignore', stderr: 'ignore', cwd: dir },
  );
  // A run that ends by process.exit (an invariant broken, a crash) leaves no server or data behind.
  const orphans = () => {
    mariadb.kill('SIGKILL');
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', orphans);
  const mysqlUrl = `mysql://root@127.0.0.1:${myPort}`;
  await waitFor('mariadbd', async () => {
    const c = await mysql.createConnection({ uri: mysqlUrl, connectTimeout: 1000 });
    await c.end();
  });
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  await waitFor('redis-server', async () => {
    const { Redis } = await import('ioredis');
    const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await r.connect();
      await r.ping();
    } finally {
      r.disconnect();
    }
  });
  return {
    mysqlUrl,
    redisUrl,
    private: true,
    pids: { mysql: mariadb.pid, redis: redis.pid },
    async close() {
      process.off('exit', orphans);
      mariadb.kill('SIGTERM');
      redis.kill('SIGTERM');
      await Promise.all([mariadb.exited, redis.exited]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
