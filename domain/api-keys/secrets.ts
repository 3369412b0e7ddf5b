import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * An API key is `of_<id>_<secret>`: the id (32 hex digits, the row's id without its `key_` prefix) is
 * not secret and finds the row; the secret is 32 random bytes, base64url. Only HMAC-SHA256(pepper,
 * secret) is stored: 32 random bytes need no slow password hash (nobody can guess them), and the
 * keyed hash means a copy of the table alone verifies nothing.
 */
const KEY_PATTERN = /^of_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;
const ID_PREFIX = 'key_';

/** Anything that starts like a key is one (a JWT never does): the auth middleware's fork. */
export const looksLikeApiKey = (token: string) => token.startsWith('of_');

export interface PresentedKey {
  id: string;
  secret: string;
}

/** The id and secret a presented key names; undefined when it is not shaped like one of ours. */
export function parseApiKey(token: string): PresentedKey | undefined {
  const m = KEY_PATTERN.exec(token);
  if (!m?.[1] || !m[2]) return undefined;
  return { id: `${ID_PREFIX}${m[1]}`, secret: m[2] };
}

/** A new key for the row `id` (`key_<32 hex>`): the string shown once, and the secret it carries. */
export function newApiKey(id: string): { key: string; secret: string } {
  const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  return { key: `of_${id.slice(ID_PREFIX.length)}_${secret}`, secret };
}

/**
 * The server-side key of the hash. Derived from PII_KEY (required in production, stable across
 * restarts, unlike a development JWT_SECRET) under its own label, so neither key can stand in for the
 * other; rotating PII_KEY therefore also retires every API key.
 */
export function apiKeyPepper(piiKey: Uint8Array): Buffer {
  return createHmac('sha256', piiKey).update('orderflow api-key pepper v1').digest();
}

export const hashApiKeySecret = (pepper: Uint8Array, secret: string): string =>
  createHmac('sha256', pepper).update(secret).digest('hex');

/** Compares in constant time (both are 64 hex digits; a stored value of another length never matches). */
export function secretMatches(pepper: Uint8Array, secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashApiKeySecret(pepper, secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
