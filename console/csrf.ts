import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';

/**
 * A state-changing request is the console's own only when it comes from the console's origin (the
 * browser's `Origin`, which a page elsewhere cannot forge) AND carries the session's CSRF token (a
 * hidden field of every form). Either alone is refused: no Origin, another origin, a missing or wrong token.
 */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header('origin');
  const host = c.req.header('host');
  if (!origin || !host || origin === 'null') return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
