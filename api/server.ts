import { migrateDatabase } from '../db/migrate';
import { ensureAdmin } from '../domain/users/users';
import { type Config, ConfigError, loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { checkServices } from '../lib/resources';
import { assembleApi } from './assemble';
import { tokenSettings } from './deps';

/** Starts the API: checks Redis and MySQL, migrates, makes the admin exist, then listens. */
export async function startApi(config: Config) {
  const logger = createLogger(config.LOG_LEVEL, { role: 'api' });
  await migrateDatabase(config.DATABASE_URL);
  const api = await assembleApi(config, logger);
  if (config.ADMIN_EMAIL && config.ADMIN_PASSWORD) {
    const outcome = await ensureAdmin(
      api.deps.db,
      config.piiKey,
      tokenSettings(api.deps),
      config.ADMIN_EMAIL,
      config.ADMIN_PASSWORD,
    );
    // An existing account promoted or given a new password: its earlier sessions were ended.
    if (outcome === 'updated')
      logger.warn('admin account updated from ADMIN_EMAIL/ADMIN_PASSWORD; its sessions were ended');
  }
  const server = Bun.serve({ port: config.PORT, fetch: api.app.fetch, development: false });
  logger.info({ port: server.port }, `API listening on http://localhost:${server.port}`);
  return {
    server,
    metrics: api.deps.metrics,
    async stop() {
      await server.stop();
      await api.close();
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
