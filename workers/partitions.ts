import type { QueueName } from '../queues/contract';
import { partitionHas } from '../queues/partitions';
import type { WorkerDeps } from './deps';
import { startWorkers, type WorkerSet } from './run';

/**
 * The named queues of each given partition (`--partitions`), each under its partition's prefix.
 * `deliver` and `maintenance` exist in partition 0 only (queues/partitions.ts).
 */
export async function startPartitions(
  deps: WorkerDeps,
  queues: readonly QueueName[],
  concurrency: number,
  partitions: readonly number[],
  process?: string,
): Promise<WorkerSet> {
  const sets: WorkerSet[] = [];
  for (const partition of partitions) {
    const family = deps.queues.families[partition];
    if (!family) throw new Error(`no partition ${partition} (QUEUE_PARTITIONS=${deps.queues.partitions})`);
    const names = queues.filter((q) => partitionHas(partition, q));
    if (!names.length) continue;
    sets.push(
      await startWorkers(deps, names, concurrency, {
        prefix: family.prefix,
        partition,
        ...(process ? { process } : {}),
      }),
    );
  }
  return {
    workers: sets.flatMap((s) => s.workers),
    async close(deadlineMs) {
      await Promise.all(sets.map((s) => s.close(deadlineMs)));
    },
  };
}
