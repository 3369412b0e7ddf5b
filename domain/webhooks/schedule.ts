/**
 * When a failed delivery is tried again: the first retry `baseSeconds` after the first attempt, each
 * later one three times further; after `maxAttempts` attempts it has failed. At the defaults (30 s,
 * 10 attempts) the last attempt is about 3.4 days after the first, as Stripe's retries run about three.
 */
export interface RetryPolicy {
  baseSeconds: number;
  maxAttempts: number;
}

/** The delay after attempt `made` (1-based) failed, or undefined when it was the last. */
export function retryDelayMs(p: RetryPolicy, made: number): number | undefined {
  if (made >= p.maxAttempts) return undefined;
  return p.baseSeconds * 1000 * 3 ** (made - 1);
}

/** From the first attempt to the last: how long an endpoint must fail everything before it is disabled. */
export const failingWindowMs = (p: RetryPolicy): number =>
  (p.baseSeconds * 1000 * (3 ** (p.maxAttempts - 1) - 1)) / 2;
