/**
 * The engine's ceiling, worker side: the three saga queues with processors that do nothing, as a
 * process of its own (as Orderflow's workers are), with the same worker options Orderflow uses.
 * Env: BENCH_REDIS_URL, BENCH_PREFIX, BENCH_CONCURRENCY. Stops on SIGTERM, and when orphaned (the
 * bench that started it was killed before it could stop it: its Redis is gone too).
 */
import { MetricsTime, Worker } from 'bullmq';
import { createRedis } from '../lib/redis';

const redis = createRedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker', 'bench-noop');
const prefix = process.env.BENCH_PREFIX ?? 'bench';
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
const workers = ['reserve', 'charge', 'notify'].map(
  (queue) =>
    new Worker(queue, async () => ({ status: 'ok', changed: true }), {
      connection: redis,
      prefix,
      concurrency,
      metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
    }),
);
process.once('SIGTERM', async () => {
  await Promise.all(workers.map((w) => w.close(true)));
  redis.disconnect();
  process.exit(0);
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
