import {
  BrokenCircuitError,
  CircuitState,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  SamplingBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';

export interface BreakerSettings {
  /** Share of failed calls (0..1) within `windowMs` that opens the circuit. */
  failureRate: number;
  windowMs: number;
  /** Calls per second below which the circuit never opens (too few to judge). */
  minimumRps: number;
  /** How long the circuit stays open before one trial call is let through. */
  halfOpenAfterMs: number;
  timeoutMs: number;
  /** Quick retries of a transient failure inside one job attempt. */
  retries: number;
}

export type CircuitStateName = 'closed' | 'open' | 'half_open';

/** The dependency is known to be down: try later, without spending an attempt. */
export class CircuitOpenError extends Error {
  constructor(
    readonly breaker: string,
    readonly retryAfterMs: number,
  ) {
    super(`circuit "${breaker}" is open; retry in ${retryAfterMs} ms`);
    this.name = 'CircuitOpenError';
  }
}

const stateNames: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'open',
};

/**
 * Timeout → quick retries with backoff → a circuit breaker that opens on a failure rate and
 * half-opens after a wait (cockatiel). Only failures `isTransient` says are the dependency's fault
 * count: a declined card or a bad address is an answer, not an outage.
 */
export class Breaker {
  private readonly policy: IPolicy;
  private readonly breaker;
  private current: CircuitStateName = 'closed';

  constructor(
    readonly name: string,
    private readonly settings: BreakerSettings,
    private readonly isTransient: (err: Error) => boolean,
    onState: (name: string, state: CircuitStateName) => void = () => {},
  ) {
    const transient = handleWhen(
      (err) => err instanceof Error && (isTransient(err) || err instanceof TaskCancelledError),
    );
    this.breaker = circuitBreaker(transient, {
      halfOpenAfter: settings.halfOpenAfterMs,
      breaker: new SamplingBreaker({
        threshold: settings.failureRate,
        duration: settings.windowMs,
        minimumRps: settings.minimumRps,
      }),
    });
    this.breaker.onStateChange((state) => {
      this.current = stateNames[state];
      onState(name, this.current);
    });
    this.policy = wrap(
      retry(transient, {
        maxAttempts: settings.retries,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }),
      }),
      this.breaker,
      timeout(settings.timeoutMs, TimeoutStrategy.Aggressive),
    );
  }

  get state(): CircuitStateName {
    return this.current;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.policy.execute(fn);
    } catch (err) {
      // Refused because the circuit is open, or the failure that opened (or, as a half-open trial,
      // re-opened) it: either way the dependency is down, and the caller waits instead of spending
      // an attempt.
      const outage = this.current === 'open' && err instanceof Error && this.isTransient(err);
      if (err instanceof BrokenCircuitError || outage) {
        throw new CircuitOpenError(this.name, this.settings.halfOpenAfterMs);
      }
      throw err;
    }
  }
}
