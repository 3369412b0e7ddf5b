import { childEnv } from '../lib/child-env';
import { createLogger } from '../lib/logger';
import { type ChildSpec, freePort, Supervisor } from '../lib/supervisor';
import { onShutdown, preflight, prepareDatabase } from '../wiring/startup';

/**
 * `bun run start`: migrates and makes the admin exist once, then supervises API_PROCESSES API
 * processes (all on PORT, `reusePort`) and WORKER_PROCESSES worker processes (every queue), each
 * restarted with backoff when it dies. SIGTERM drains them all within SHUTDOWN_GRACE_MS.
 */
const config = await preflight('api', 'orderflow-supervisor');
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
// One scrape of any API process covers every child: each serves its registry on a loopback port of
// its own, and the API processes merge them (lib/metrics-peers.ts). A restarted child keeps its port.
const apiNames = Array.from({ length: config.API_PROCESSES }, (_, i) => `api-${i + 1}`);
const workerNames = Array.from({ length: config.WORKER_PROCESSES }, (_, i) => `worker-${i + 1}`);
const peerPorts = new Map([...apiNames, ...workerNames].map((name) => [name, freePort()]));
const peers = {
  METRICS_PEERS: [...peerPorts].map(([name, p]) => `${name}=${p}`).join(','),
  METRICS_PEER_SECRET: Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64url'),
};
const children: ChildSpec[] = [];
for (const name of apiNames) {
  children.push({
    name,
    cmd: [bun, 'run', `${root}api/start/server.ts`, '--name', name],
    // Each kind of child gets the variables it needs, no more (lib/child-env.ts).
    env: childEnv('api', { ...env, ...peers, METRICS_PEER_PORT: String(peerPorts.get(name)) }),
  });
}
workerNames.forEach((name, i) => {
  const metricsPort = config.WORKER_METRICS_PORT ? String(config.WORKER_METRICS_PORT + i) : undefined;
  children.push({
    name,
    cmd: [bun, 'run', `${root}workers/main.ts`, '--name', name],
    // One metrics port per worker process, counting up from WORKER_METRICS_PORT.
    env: childEnv('worker', {
      ...env,
      WORKER_METRICS_PORT: metricsPort,
      METRICS_PEER_PORT: String(peerPorts.get(name)),
      METRICS_PEER_SECRET: peers.METRICS_PEER_SECRET,
    }),
  });
});
const supervisor = new Supervisor(children, logger, { graceMs: config.SHUTDOWN_GRACE_MS });
supervisor.start();
logger.info(
  { port, api: config.API_PROCESSES, workers: config.WORKER_PROCESSES },
  `Orderflow on http://localhost:${port}: ${config.API_PROCESSES} API and ${config.WORKER_PROCESSES} worker processes`,
);
const shutdown = onShutdown(() => supervisor.stop());
// `bun run start` runs this script under Bun's script runner, which does not pass on a signal when it
// is killed itself: orphaned (re-parented), stop as on SIGTERM instead of running on unseen.
const parent = process.ppid;
const orphaned = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphaned);
  logger.warn({ parent }, 'the process that started the supervisor is gone: stopping');
  void shutdown();
}, 1000);
