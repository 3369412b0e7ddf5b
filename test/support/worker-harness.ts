import type { Config } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { createRedis } from '../../lib/redis';
import { buildWorkerDeps, type WorkerDeps } from '../../workers/deps';
import { createHarness, type Harness } from './harness';
import { shop } from './shop';

/**
 * The API harness plus a worker's dependencies on the same database and Redis, for tests that drive
 * the saga's steps (their batchers and domain functions) themselves; no worker runs. `tune` overrides
 * the workers' config (batch size, waits).
 */
export interface WorkerHarness {
  h: Harness;
  s: ReturnType<typeof shop>;
  /** A signed-in customer. */
  user: { id: string; token: string };
  deps: WorkerDeps;
  close(): Promise<void>;
}

export async function startWorkerHarness(name: string, tune: Partial<Config> = {}): Promise<WorkerHarness> {
  const redis = createRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker', `${name}-test`);
  redis.on('error', () => {});
  const h = await createHarness();
  const s = shop(h, await h.signUp('admin'));
  const user = await h.signUp('user');
  const deps = buildWorkerDeps({ ...h.config, ...tune }, { db: h.db, redis }, createLogger('silent'));
  return {
    h,
    s,
    user,
    deps,
    async close() {
      await deps.queues.close();
      redis.disconnect();
      await h.cleanup();
    },
  };
}
