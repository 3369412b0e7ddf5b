import { preflight, startApi } from '../api/server';
import { queueNames } from '../queues/contract';
import { runWorkerProcess } from '../workers/main';

/** `bun run start`: the API and every worker in one process, ready to take orders. */
const config = await preflight();
const api = await startApi(config);
// One process, one /metrics: the workers report job durations and breaker states into the API's registry.
const workers = await runWorkerProcess(
  config,
  { queues: [...queueNames], concurrency: config.WORKER_CONCURRENCY },
  api.metrics,
);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await api.stop();
    await workers.stop();
    process.exit(0);
  });
}
