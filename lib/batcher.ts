/**
 * Group commit inside one process. BullMQ hands a worker's processor up to `concurrency` jobs (and the
 * API serves many requests)
 * at once; each processor call submits its order here and awaits its own result. The batcher runs
 * the waiting orders together — one transaction, few statements — and the batch function answers per
 * item: one order that cannot proceed (or throws) never fails its neighbours.
 *
 * When a batch runs is the flush policy:
 * - `timer` (the default): when `maxSize` are waiting or `maxWaitMs` after the first arrived, however
 *   many batches are running; with `startWhenIdle`, a request after a quiet spell goes at once.
 * - `in-flight` (`maxInFlight` ≥ 1, the classic group commit; the saga steps): while fewer than
 *   `maxInFlight` batches are running, what is waiting runs at once (on the next turn of the event
 *   loop, so jobs handed over together go together) — at low load nothing waits for company that is
 *   not coming. Otherwise the items gather while the running batches commit, and the next batch
 *   starts when one of them ends, when `maxSize` are waiting, or `maxWaitMs` after the first arrived
 *   (so that one slow batch, a gateway taking seconds, holds the next one no longer than that). Under
 *   load the batches grow by themselves to what arrives during one batch.
 */
import type { Context } from '@opentelemetry/api';
import { batchSpan, captureContext } from './tracing';

export type ItemResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface BatcherOptions {
  maxSize: number;
  /** The timer policy's wait after the first item; under the in-flight policy, the most it waits for a running batch. */
  maxWaitMs: number;
  /**
   * Timer policy: a request after a quiet spell starts its batch at the end of the current event-loop
   * turn instead of `maxWaitMs` later: when no batch is running and nothing arrived in the last
   * `maxWaitMs`, company is not coming (what arrives in the same turn still goes along). While
   * requests keep coming, the wait applies as before, so batches still form under load. For callers
   * who wait for the answer (`POST /orders`): at low load a lone request no longer waits for nothing.
   */
  startWhenIdle?: boolean;
  /** The in-flight policy (see above) with at most this many batches running before items wait. */
  maxInFlight?: number;
  /**
   * With tracing on, a batch runs in a span of this name in its own trace, linked to the span each item
   * was submitted from (lib/tracing.ts `batchSpan`); without a name it runs in no span of its own.
   */
  traceName?: string;
}

/** The saga steps' group-commit policy, from the configuration. */
export function groupCommitOptions(config: {
  GROUP_COMMIT_MAX: number;
  GROUP_COMMIT_WAIT_MS: number;
  GROUP_COMMIT_IN_FLIGHT: number;
  GROUP_COMMIT_HOLD_MS: number;
}): BatcherOptions {
  if (config.GROUP_COMMIT_IN_FLIGHT === 0)
    return { maxSize: config.GROUP_COMMIT_MAX, maxWaitMs: config.GROUP_COMMIT_WAIT_MS };
  return {
    maxSize: config.GROUP_COMMIT_MAX,
    maxWaitMs: config.GROUP_COMMIT_HOLD_MS,
    maxInFlight: config.GROUP_COMMIT_IN_FLIGHT,
  };
}

export class MicroBatcher<K, T> {
  private waiting: {
    key: K;
    resolve: (v: T) => void;
    reject: (e: unknown) => void;
    context: Context | undefined;
  }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private running = 0;
  private lastArrival = Number.NEGATIVE_INFINITY;

  constructor(
    /** Runs a batch; must answer every key (a missing answer is reported as an error for that key). */
    private readonly run: (keys: K[]) => Promise<Map<K, ItemResult<T>>>,
    private readonly options: BatcherOptions,
  ) {}

  submit(key: K): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ key, resolve, reject, context: captureContext() });
      const now = performance.now();
      const quiet = now - this.lastArrival >= this.options.maxWaitMs;
      this.lastArrival = now;
      if (this.waiting.length >= this.options.maxSize) this.flush();
      else this.schedule(quiet);
    });
  }

  /** Arms what will flush the items waiting now. */
  private schedule(quiet: boolean): void {
    const { maxInFlight, startWhenIdle } = this.options;
    const atOnce =
      maxInFlight !== undefined
        ? this.running < maxInFlight
        : startWhenIdle === true && (this.immediate !== undefined || (quiet && this.running === 0));
    if (atOnce) this.immediate ??= setImmediate(() => this.flush());
    else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    // The same order twice in one batch (a duplicate job) would be decided twice against one locked
    // row: run the later ones in the next batch instead.
    const seen = new Set<K>();
    const now: typeof batch = [];
    for (const item of batch) {
      if (seen.has(item.key)) this.waiting.push(item);
      else {
        seen.add(item.key);
        now.push(item);
      }
    }
    this.running++;
    if (this.waiting.length) this.schedule(false);
    const keys = now.map((i) => i.key);
    const { traceName } = this.options;
    (traceName && now[0]?.context ? batchSpan(traceName, now, () => this.run(keys)) : this.run(keys))
      .finally(() => this.running--)
      .then(
        (results) => {
          for (const item of now) {
            const r = results.get(item.key);
            if (!r) item.reject(new Error('the batch gave no answer for this item'));
            else if (r.ok) item.resolve(r.value);
            else item.reject(r.error);
          }
        },
        (err) => {
          for (const item of now) item.reject(err);
        },
      )
      .finally(() => {
        // A batch ended: under the in-flight policy, what gathered meanwhile goes now.
        if (this.options.maxInFlight !== undefined && this.waiting.length) this.flush();
      });
  }
}

/**
 * A batch function that falls back to one call per item when the batch as a whole fails (a
 * deadlock, a lost connection, a constraint one order trips): the items are then decided one by
 * one, so only the item that really fails gets the error, and a transient fault is retried by the
 * jobs that need it.
 */
export function withFallback<K, T>(
  batch: (keys: K[]) => Promise<Map<K, ItemResult<T>>>,
  single: (key: K) => Promise<T>,
  onBatchError?: (err: unknown, size: number) => void,
): (keys: K[]) => Promise<Map<K, ItemResult<T>>> {
  return async (keys) => {
    try {
      return await batch(keys);
    } catch (err) {
      onBatchError?.(err, keys.length);
      const out = new Map<K, ItemResult<T>>();
      await Promise.all(
        keys.map(async (k) => {
          try {
            out.set(k, { ok: true, value: await single(k) });
          } catch (error) {
            out.set(k, { ok: false, error });
          }
        }),
      );
      return out;
    }
  };
}
