import { Redis } from 'ioredis';
import { createApp } from '../api/app';
import { OPENAPI_CONFIG } from '../api/docs';
import { createDb, createPool } from '../db/client';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createOrderContext, createQueues } from '../wiring/adapters';

/**
 * The app's own OpenAPI document, built without Redis or MySQL: the routes describe themselves when
 * the app is built, and nothing here connects (a lazy Redis client, a pool that opens on first query),
 * so `bun run client:generate` works on a machine with neither.
 */
export async function buildOpenApiDocument(): Promise<object> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const pool = createPool(config.DATABASE_URL, 1);
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
  redis.on('error', () => {});
  const db = createDb(pool);
  const queues = createQueues(config, redis);
  try {
    const app = createApp({
      config,
      db,
      redis,
      logger: createLogger('silent'),
      orders: createOrderContext(config, db, redis),
      queues,
    });
    return app.getOpenAPI31Document(OPENAPI_CONFIG);
  } finally {
    await queues.close().catch(() => {});
    redis.disconnect();
    await pool.end().catch(() => {});
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await buildOpenApiDocument(), null, 2));
}
