import type { createApp } from '../../api/app';
import { type AssembledApi, assembleApi } from '../../api/start/assemble';
import { dropDatabase, migrateDatabase } from '../../db/migrate';
import { issueTokenPair, type Principal } from '../../domain/auth/tokens';
import { registerUser } from '../../domain/users/users';
import { type Config, loadConfig } from '../../lib/config';
import { createLogger, type Logger } from '../../lib/logger';
import { deletePrefixedKeys } from '../../lib/redis';
import { partitionPrefixes } from '../../queues/partitions';
import type { Resources } from '../../wiring/resources';
import { enforceDocumentedStatuses } from './documented';

const baseMysql = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const baseRedis = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Harness extends Resources {
  config: Config;
  deps: AssembledApi['deps'];
  app: ReturnType<typeof createApp>;
  /** Live tracking of this app (hub, caps, read counts). */
  live: AssembledApi['live'];
  prefix: string;
  /** A signed-in user (role `user` unless asked) with a fresh access token. */
  signUp(role?: 'user' | 'admin', phone?: string): Promise<{ id: string; email: string; token: string }>;
  json(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<Response>;
  cleanup(): Promise<void>;
}

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** The configuration a test runs with: its own database and Redis prefix. */
export function testConfig(suffix: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    DATABASE_URL: `${baseMysql}/oftest_${suffix}`,
    REDIS_URL: baseRedis,
    QUEUE_PREFIX: `oftest_${suffix}`,
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    DATABASE_POOL_SIZE: '20',
    RATE_LIMITS: 'off',
    // Tests scrape right after what they count; test/metrics-cache.test.ts covers the cache itself.
    METRICS_CACHE_SECONDS: '0',
    // Tests place many orders from brand-new accounts in seconds, which the fraud model rightly finds
    // suspicious: orders are still screened (risk stored), but only the test tokens force a decision.
    // test/fraud.test.ts sets real thresholds.
    RISK_REVIEW_AT: '2',
    RISK_REJECT_AT: '2',
    ...env,
  });
}

/** Every test file gets its own database and its own Redis prefix, and removes both afterwards. */
export async function createHarness(env: Record<string, string> = {}, logger?: Logger): Promise<Harness> {
  const suffix = uniqueSuffix();
  const config = testConfig(suffix, env);
  const prefix = config.QUEUE_PREFIX;
  await migrateDatabase(config.DATABASE_URL);
  const api = await assembleApi(config, logger ?? createLogger(config.LOG_LEVEL));
  const { app, deps, resources, live } = api;
  // Every answer a test receives through the harness must be one the OpenAPI document lists.
  enforceDocumentedStatuses(app);
  let n = 0;

  return {
    ...resources,
    config,
    deps,
    app,
    live,
    prefix,
    async signUp(role = 'user', phone) {
      const email = `u${++n}_${suffix}@example.test`;
      const user = await registerUser(resources.db, config.piiKey, {
        email,
        password: 'correct horse battery',
        name: `User ${n}`,
        role,
        phone,
      });
      const principal: Principal = { userId: user.id, role };
      const pair = await issueTokenPair(
        resources.db,
        { secret: config.jwtSecret, accessTtlSeconds: 900, refreshTtlSeconds: 3600 },
        principal,
      );
      return { id: user.id, email, token: pair.accessToken };
    },
    async json(method, path, body, token, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (body !== undefined) h['content-type'] = 'application/json';
      if (token) h.authorization = `Bearer ${token}`;
      return app.request(path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
    async cleanup() {
      for (const p of new Set([prefix, ...partitionPrefixes(prefix, config.QUEUE_PARTITIONS)])) {
        await deleteKeys(resources.redis, p);
      }
      await api.close();
      await dropDatabase(config.DATABASE_URL);
    },
  };
}

/** Removes this test's keys only: never FLUSHALL a Redis that other tests share. */
export const deleteKeys = deletePrefixedKeys;
