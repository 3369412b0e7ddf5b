import type mysql from 'mysql2/promise';
import { createDb, createPool, type Db } from '../db/client';
import type { Config } from '../lib/config';
import { connectRedis, type RedisClient, type RedisRole } from '../lib/redis';

export interface Resources {
  pool: mysql.Pool;
  db: Db;
  redis: RedisClient;
  close(): Promise<void>;
}

export async function openResources(config: Config, role: RedisRole): Promise<Resources> {
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, {
    acquireTimeoutMs: config.DATABASE_POOL_ACQUIRE_TIMEOUT_MS,
    queueLimit: config.DATABASE_POOL_QUEUE_LIMIT,
  });
  const redis = connectRedis(config, role);
  // ioredis reports every failed reconnect as an 'error'; readiness and logs carry the outage instead.
  redis.on('error', () => {});
  // A fail-fast producer refuses commands until connected: wait for the first connection (bounded).
  if (redis.status !== 'ready') {
    await withTimeout(new Promise((resolve) => redis.once('ready', resolve)), 5000).catch(() => {});
  }
  return {
    pool,
    db: createDb(pool),
    redis,
    async close() {
      redis.disconnect();
      await pool.end().catch(() => {});
    },
  };
}

const redact = (url: string) => url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');

/**
 * Checked once at start so that a missing service is one clear paragraph, not a stack trace.
 * Returns the paragraph, or null when both answer.
 */
export async function checkServices(config: Config): Promise<string | null> {
  const problems: string[] = [];
  const probe = connectRedis(config, 'producer', 'orderflow-startup-check');
  probe.on('error', () => {});
  try {
    // The fail-fast producer refuses commands before its first connection: wait for it, bounded.
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        if (probe.status === 'ready') resolve();
        probe.once('ready', () => resolve());
        probe.once('error', reject);
      }),
      3000,
    );
    await withTimeout(probe.ping(), 3000);
  } catch (err) {
    const where = config.REDIS_CLUSTER_NODES
      ? `the Redis Cluster of REDIS_CLUSTER_NODES (${config.REDIS_CLUSTER_NODES})`
      : redact(config.REDIS_URL);
    problems.push(
      `Redis is not reachable at ${where} (${message(err)}). Orderflow needs a real Redis (BullMQ ` +
        'runs on it): install one with your package manager (e.g. `apt-get install redis-server` and start ' +
        '`redis-server`), or run `docker compose -f deploy/compose.yaml up -d redis mysql`, or point REDIS_URL at yours.',
    );
  } finally {
    probe.disconnect();
  }
  const server = new URL(config.DATABASE_URL);
  server.pathname = '/';
  const pool = createPool(server.toString(), 1);
  try {
    await withTimeout(pool.query('SELECT 1'), 5000);
  } catch (err) {
    problems.push(
      `MySQL is not reachable at ${redact(server.toString())} (${message(err)}). Install MySQL or MariaDB with your ` +
        'package manager (e.g. `apt-get install mariadb-server` and start it), or run ' +
        '`docker compose -f deploy/compose.yaml up -d redis mysql`, or point DATABASE_URL at yours.',
    );
  } finally {
    await pool.end().catch(() => {});
  }
  return problems.length ? problems.join('\n\n') : null;
}

function message(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
