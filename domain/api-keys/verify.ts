import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { apiKeys } from '../../db/schema';
import { DomainError } from '../errors';
import { type ApiKeyRevocations, findLiveKey, scopesOf } from './keys';
import type { ApiKeyScope } from './scopes';
import { parseApiKey, secretMatches } from './secrets';

export interface VerifiedKey {
  id: string;
  scopes: ApiKeyScope[];
}

export interface ApiKeyVerifierOptions {
  db: Db;
  pepper: Uint8Array;
  revocations: ApiKeyRevocations;
  /** How long a key's row is remembered in this process (a bound, not the revocation mechanism). */
  cacheMs?: number;
  /** `last_used_at` is written at most this often per process, for all the keys used meanwhile. */
  lastUsedFlushMs?: number;
  onFlushError?: (err: unknown) => void;
}

interface Cached {
  key: VerifiedKey;
  secretHash: string;
  until: number;
}

const unknownKey = () => new DomainError('unauthorized', 'API key is unknown or was deleted');

/**
 * Checks presented API keys. The row (scopes and the secret's hash) is read from MySQL once per key and
 * process and kept for `cacheMs`; the secret is compared (HMAC, constant time) on every request, and
 * the revocation port is asked on every request, so a deleted key is refused at once by every process
 * whatever this cache holds: the same arrangement as access tokens (domain/auth/tokens.ts).
 * `lastUsedAt` is remembered in memory and written in one pass every `lastUsedFlushMs`, started by a
 * request (no timer to stop); a process that stops may lose that much of it, which the field tolerates.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, Cached>();
  private readonly used = new Map<string, Date>();
  private lastFlush = 0;
  private flushing: Promise<void> | undefined;
  private readonly cacheMs: number;
  private readonly flushMs: number;

  constructor(private readonly opts: ApiKeyVerifierOptions) {
    this.cacheMs = opts.cacheMs ?? 60_000;
    this.flushMs = opts.lastUsedFlushMs ?? 30_000;
  }

  /** The key and its scopes; a DomainError `unauthorized` for a malformed, unknown, wrong or deleted key. */
  async verify(token: string): Promise<VerifiedKey> {
    const presented = parseApiKey(token);
    if (!presented) throw new DomainError('unauthorized', 'API key is malformed');
    const now = Date.now();
    let entry = this.cache.get(presented.id);
    if (!entry || now >= entry.until) {
      const row = await findLiveKey(this.opts.db, presented.id);
      if (!row) {
        this.cache.delete(presented.id);
        throw unknownKey();
      }
      entry = {
        key: { id: row.id, scopes: scopesOf(row.scopes) },
        secretHash: row.secretHash,
        until: now + this.cacheMs,
      };
      this.cache.set(presented.id, entry);
    }
    if (!secretMatches(this.opts.pepper, presented.secret, entry.secretHash)) throw unknownKey();
    if (await this.opts.revocations.isRevoked(presented.id)) {
      this.cache.delete(presented.id);
      throw unknownKey();
    }
    this.markUsed(presented.id, new Date(now));
    return { id: entry.key.id, scopes: [...entry.key.scopes] };
  }

  private markUsed(id: string, at: Date): void {
    this.used.set(id, at);
    if (at.getTime() - this.lastFlush >= this.flushMs && !this.flushing) {
      this.lastFlush = at.getTime();
      this.flushing = this.flush()
        .catch((err: unknown) => this.opts.onFlushError?.(err))
        .finally(() => {
          this.flushing = undefined;
        });
    }
  }

  /**
   * Writes the remembered `lastUsedAt` of every key used since the last flush (never moves one back).
   * What could not be written is remembered again (unless a later use replaced it) for the next flush.
   */
  async flush(): Promise<void> {
    const batch = [...this.used];
    this.used.clear();
    for (const [i, [id, at]] of batch.entries()) {
      try {
        await this.opts.db
          .update(apiKeys)
          .set({ lastUsedAt: at })
          .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, at))));
      } catch (err) {
        for (const [left, when] of batch.slice(i)) if (!this.used.has(left)) this.used.set(left, when);
        throw err;
      }
    }
  }

  /** Waits for a flush under way (tests, shutdown). */
  async settled(): Promise<void> {
    await this.flushing;
  }
}
