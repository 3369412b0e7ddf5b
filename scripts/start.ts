import { preflight, startApi } from '../api/server';

/** `bun run start`: the API (and, from the saga on, every worker) in one process. */
const config = await preflight();
const api = await startApi(config);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await api.stop();
    process.exit(0);
  });
}
