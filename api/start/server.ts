import type { Config } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { servePeerMetrics } from '../../wiring/metrics';
import { flagValue, onShutdown, preflight, prepareDatabase, stopWhenOrphaned } from '../../wiring/startup';
import { assembleApi } from './assemble';
import { serveApi } from './serve';

export interface ApiOptions {
  /** The process's name in its logs (`api-2` under the supervisor). */
  name?: string;
  /** False under the supervisor, which migrated and made the admin once before starting its children. */
  prepare?: boolean;
  /**
   * Under the supervisor: bind PORT with `reusePort`, beside the other API processes, and the kernel
   * spreads connections over them. Off alone, so a second server started by mistake fails to bind
   * instead of silently taking half the traffic.
   */
  sharePort?: boolean;
}

/** Starts one API process: migrates and makes the admin exist (unless the supervisor did), then listens. */
export async function startApi(config: Config, options: ApiOptions = {}) {
  const logger = createLogger(config.LOG_LEVEL, {
    role: 'api',
    ...(options.name ? { process: options.name } : {}),
  });
  if (options.prepare !== false) await prepareDatabase(config, logger);
  const api = await assembleApi(config, logger);
  const server = serveApi(api, config, { port: config.PORT, reusePort: options.sharePort === true });
  const peerServer = servePeerMetrics(api.deps.metrics, config);
  logger.info({ port: server.port }, `API listening on http://localhost:${server.port}`);
  return {
    server,
    metrics: api.deps.metrics,
    async stop() {
      // Open streams and sockets first: they never end by themselves. In-flight requests then get
      // the grace period, and whatever is still open after it is cut.
      api.live.endAll();
      const drained = await Promise.race([
        server.stop().then(() => true),
        Bun.sleep(config.SHUTDOWN_GRACE_MS).then(() => false),
      ]);
      if (!drained) await server.stop(true);
      await peerServer?.stop(true);
      await api.close();
      logger.info('API stopped');
    },
  };
}

if (import.meta.main) {
  const config = await preflight('api', 'orderflow-api');
  const argv = process.argv.slice(2);
  const name = flagValue(argv, '--name');
  // `--name` is how the supervisor starts its children (scripts/start.ts).
  const api = await startApi(config, name ? { name, prepare: false, sharePort: true } : {});
  const stop = onShutdown(() => api.stop());
  if (name) stopWhenOrphaned(stop, config.SUPERVISOR_PID);
}
