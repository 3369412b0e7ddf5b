import { migrateDatabase } from '../db/migrate';
import { RedisFamilyRevocations } from '../domain/auth/token-revocations';
import { ensureAdmin } from '../domain/users/users';
import { type Config, ConfigError, type ConfigRole, loadConfig } from '../lib/config';
import { applyHeapGrowth } from '../lib/js-heap';
import type { Logger } from '../lib/logger';
import { checkServices, openResources } from './resources';
import { startTracing, stopTracing } from './tracing';

/**
 * Start-up shared by every entry point (API, worker, supervisor): the configuration parsed once, and
 * Redis and MySQL checked, with one clear paragraph and a non-zero exit when something is wrong.
 * Tracing starts here (when configured), before any logger, queue or worker is made: they look for it
 * once, when made. `service` is the process's default OpenTelemetry service name.
 */
export async function preflight(role: ConfigRole = 'api', service = 'orderflow'): Promise<Config> {
  let config: Config;
  try {
    config = loadConfig(process.env, role);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  // Before anything connects: a process started without its heap growth starts over with it.
  applyHeapGrowth(config.JS_HEAP_GROWTH);
  const problem = await checkServices(config);
  if (problem) {
    console.error(`Orderflow cannot start.\n\n${problem}`);
    process.exit(1);
  }
  await startTracing(config, service);
  return config;
}

/** Once per deployment, before any process serves: the schema is current and the admin exists. */
export async function prepareDatabase(config: Config, logger: Logger): Promise<void> {
  await migrateDatabase(config.DATABASE_URL);
  if (!config.ADMIN_EMAIL || !config.ADMIN_PASSWORD) return;
  // Redis too: promoting an existing account or changing its password ends its sessions.
  const resources = await openResources(config, 'producer');
  try {
    const outcome = await ensureAdmin(
      resources.db,
      config.piiKey,
      {
        secret: config.jwtSecret,
        accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
        refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
        revocations: new RedisFamilyRevocations(resources.redis, config.QUEUE_PREFIX),
      },
      config.ADMIN_EMAIL,
      config.ADMIN_PASSWORD,
    );
    // An existing account promoted or given a new password: its earlier sessions were ended.
    if (outcome === 'updated')
      logger.warn('admin account updated from ADMIN_EMAIL/ADMIN_PASSWORD; its sessions were ended');
  } finally {
    await resources.close();
  }
}

/** `--flag value` or `--flag=value`; undefined when the flag is absent. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
  if (i < 0) return undefined;
  const arg = argv[i] ?? '';
  return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
}

/**
 * A supervised child (started with `--name`) ends with its supervisor: when the parent dies without
 * stopping it (SIGKILL), the child is re-parented and stops itself instead of holding the port.
 */
export function stopWhenOrphaned(stop: () => Promise<void>, supervisorPid: number | undefined): void {
  // The supervisor's pid comes from it (SUPERVISOR_PID), not from reading our parent now: a child's
  // start-up takes seconds, and a supervisor killed meanwhile would leave us comparing against the
  // process we were re-parented to, never noticing.
  const parent = supervisorPid ?? process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      void stop();
    }
  }, 1000);
  timer.unref();
}

/** Runs `stop` once on the first SIGTERM or SIGINT, then exits 0. */
export function onShutdown(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const run = () => {
    stopping ??= stop()
      .finally(stopTracing)
      .then(
        () => process.exit(0),
        (err) => {
          console.error(err);
          process.exit(1);
        },
      );
    return stopping;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void run());
  return run;
}
