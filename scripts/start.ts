import { createLogger } from '../lib/logger';
import { type ChildSpec, freePort, Supervisor } from '../lib/supervisor';
import { onShutdown, preflight, prepareDatabase } from '../wiring/startup';

/**
 * `bun run start`: migrates and makes the admin exist once, then supervises API_PROCESSES API
 * processes (all on PORT, `reusePort`) and WORKER_PROCESSES worker processes (every queue), each
 * restarted with backoff when it dies. SIGTERM drains them all within SHUTDOWN_GRACE_MS.
 */
const config = await preflight();
const logger = createLogger(config.LOG_LEVEL, { role: 'supervisor', process: 'supervisor' });
await prepareDatabase(config, logger);
if (config.API_PROCESSES + config.WORKER_PROCESSES === 0) {
  console.error('API_PROCESSES and WORKER_PROCESSES are both 0: nothing to start.');
  process.exit(2);
}
// PORT=0 asks for any free port: chosen once here, or every API process would get its own.
const port = config.PORT === 0 ? freePort() : config.PORT;
const root = new URL('..', import.meta.url).pathname;
const bun = process.execPath;
// Every API process must verify the tokens the others sign: without JWT_SECRET, the one random secret
// the supervisor's config drew is handed to all children instead of each drawing its own.
const env = {
  ...process.env,
  PORT: String(port),
  JWT_SECRET: config.jwtSecret,
  SUPERVISOR_PID: String(process.pid),
};
const children: ChildSpec[] = [];
for (let i = 1; i <= config.API_PROCESSES; i++) {
  children.push({
    name: `api-${i}`,
    cmd: [bun, 'run', `${root}api/start/server.ts`, '--name', `api-${i}`],
    env,
  });
}
for (let i = 1; i <= config.WORKER_PROCESSES; i++) {
  const metricsPort = config.WORKER_METRICS_PORT ? String(config.WORKER_METRICS_PORT + i - 1) : undefined;
  children.push({
    name: `worker-${i}`,
    cmd: [bun, 'run', `${root}workers/main.ts`, '--name', `worker-${i}`],
    // One metrics port per worker process, counting up from WORKER_METRICS_PORT.
    env: { ...env, WORKER_METRICS_PORT: metricsPort },
  });
}
const supervisor = new Supervisor(children, logger, { graceMs: config.SHUTDOWN_GRACE_MS });
supervisor.start();
logger.info(
  { port, api: config.API_PROCESSES, workers: config.WORKER_PROCESSES },
  `Orderflow on http://localhost:${port}: ${config.API_PROCESSES} API and ${config.WORKER_PROCESSES} worker processes`,
);
onShutdown(() => supervisor.stop());
