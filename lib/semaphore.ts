/** Thrown when a semaphore's queue is full: the caller answers "busy" instead of waiting without end. */
export class SemaphoreFullError extends Error {
  constructor(label: string) {
    super(`${label} is busy; retry shortly`);
    this.name = 'SemaphoreFullError';
  }
}

/**
 * A counting semaphore for one process: at most `limit` holders at once, at most `maxWaiting`
 * callers queued (first in, first out) behind them; past that, `acquire` refuses at once.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private limit: number,
    private readonly maxWaiting: number,
    private readonly label = 'semaphore',
  ) {}

  /** Changes the limit; waiters are let in if the new one has room. */
  resize(limit: number): void {
    this.limit = Math.max(1, limit);
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()?.();
    }
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(new SemaphoreFullError(this.label));
    // The slot is handed over by release(): `active` stays counted for the waiter that gets it.
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
