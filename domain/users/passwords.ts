import { availableParallelism } from 'node:os';
import { Semaphore, SemaphoreFullError } from '../../lib/semaphore';
import { DomainError } from '../errors';

/**
 * Every argon2id hash and verification of this process goes through one small semaphore. Bun runs
 * each on a thread of its own pool, so without a cap a flood of logins or registrations takes
 * every core and the rest of the API (and the workers beside it) starve. The cap is per process
 * because the cores are: `configurePasswordHashing` sets it from `PASSWORD_HASH_CONCURRENCY` at start.
 */
const hashing = new Semaphore(defaultHashConcurrency(), 256, 'password hashing');

/** Half the cores, at least one: the API keeps the other half for everything else. */
export function defaultHashConcurrency(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

export function configurePasswordHashing(concurrency: number): void {
  hashing.resize(concurrency);
}

/** How many hashes run now and wait now (tests and diagnostics). */
export function passwordHashingLoad(): { running: number; waiting: number } {
  return { running: hashing.inUse, waiting: hashing.queued };
}

async function limited<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await hashing.run(work);
  } catch (err) {
    // A full queue is overload, not a fault: 503, and the caller may retry.
    if (err instanceof SemaphoreFullError) throw new DomainError('unavailable', err.message);
    throw err;
  }
}

export function hashPassword(password: string): Promise<string> {
  return limited(() => Bun.password.hash(password, { algorithm: 'argon2id' }));
}

export function verifyPassword(password: string, hash: string): Promise<boolean> {
  return limited(() => Bun.password.verify(password, hash));
}
