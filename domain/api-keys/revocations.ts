import type { RedisClient } from '../../lib/redis';
import type { ApiKeyRevocations } from './keys';

/**
 * Deleted API keys in Redis, shared by every API process, each remembered for `forSeconds`: longer
 * than any process keeps a key's row (ApiKeyVerifier's cache), after which the row itself says
 * "deleted". Like revoked logins (domain/auth/token-revocations.ts), a check that cannot reach Redis lets the key
 * through (a process that has not cached the key still reads the deleted row), and a revocation that
 * cannot be recorded fails, so the caller answers 503 and may retry.
 */
export class RedisApiKeyRevocations implements ApiKeyRevocations {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly forSeconds = 600,
  ) {}

  async revoke(keyId: string): Promise<void> {
    await this.redis.set(this.key(keyId), '1', 'EX', this.forSeconds);
  }

  async isRevoked(keyId: string): Promise<boolean> {
    try {
      return (await this.redis.exists(this.key(keyId))) === 1;
    } catch {
      return false;
    }
  }

  private key(keyId: string) {
    return `${this.prefix}:revoked-api-key:${keyId}`;
  }
}
