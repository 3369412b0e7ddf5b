import type { ItemResult } from '../lib/batcher';
import { groupCommitOptions, MicroBatcher, withFallback } from '../lib/batcher';
import type { WorkerDeps } from './deps';

/**
 * A step's group-commit batcher for this process: batches go through `batch`, and a batch whose
 * transaction fails as a whole (a deadlock, a lost connection) is run again one order at a time
 * through `single`, so only the order that really fails gets the error and its job retries.
 */
export function stepBatcher<T>(
  deps: WorkerDeps,
  step: string,
  batch: (orderIds: string[]) => Promise<Map<string, ItemResult<T>>>,
  single: (orderId: string) => Promise<T>,
): MicroBatcher<string, T> {
  return new MicroBatcher(
    withFallback(batch, single, (err, size) =>
      deps.logger.warn(
        { err, step, size },
        `${step} batch failed as a whole; deciding its orders one by one`,
      ),
    ),
    // With tracing on, a batch is a span of its own linked to each order's step span.
    { ...groupCommitOptions(deps.config), traceName: `${step} batch` },
  );
}
