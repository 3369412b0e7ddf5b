import { migrateDatabase } from '../db/migrate';
import { ensureAdmin } from '../domain/users/users';
import { type Config, ConfigError, loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createMetrics } from '../lib/metrics';
import { checkServices, openResources } from '../lib/resources';
import { createOrderContext, createQueues } from '../lib/wiring';
import { createApp } from './app';
import { OrderEventHub } from './live';

/** Starts the API: checks Redis and MySQL, migrates, makes the admin exist, then listens. */
export async function startApi(config: Config) {
  const logger = createLogger(config.LOG_LEVEL, { role: 'api' });
  const resources = await openResources(config, 'producer');
  await migrateDatabase(config.DATABASE_URL);
  if (config.ADMIN_EMAIL && config.ADMIN_PASSWORD) {
    await ensureAdmin(resources.db, config.piiKey, config.ADMIN_EMAIL, config.ADMIN_PASSWORD);
  }
  const queues = createQueues(config, resources.redis);
  const orders = createOrderContext(config, resources.db, resources.redis);
  const hub = new OrderEventHub(resources.redis, config.QUEUE_PREFIX);
  const metrics = createMetrics({ db: resources.db, queues: queues.queues, logger });
  const app = createApp({ config, logger, ...resources, queues, orders, metrics }, hub);
  const server = Bun.serve({ port: config.PORT, fetch: app.fetch, development: false });
  logger.info({ port: server.port }, `API listening on http://localhost:${server.port}`);
  return {
    server,
    metrics,
    async stop() {
      await server.stop();
      hub.close();
      await queues.close();
      await resources.close();
    },
  };
}

export async function preflight(): Promise<Config> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const problem = await checkServices(config);
  if (problem) {
    console.error(`Orderflow cannot start.\n\n${problem}`);
    process.exit(1);
  }
  return config;
}

if (import.meta.main) {
  const config = await preflight();
  const api = await startApi(config);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, async () => {
      await api.stop();
      process.exit(0);
    });
  }
}
