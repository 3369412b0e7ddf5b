import type { RedisClient } from '../../lib/redis';
import type { FamilyRevocations } from './tokens';

/**
 * Revoked login families in Redis, each kept as long as an access token of it can live. Shared by
 * every API process. A check that cannot reach Redis lets the token through: access tokens are
 * short-lived, and Redis being down already shows in readiness. A revocation that cannot be
 * recorded fails (the caller answers 503 and may retry) rather than claim the tokens are dead.
 */
export class RedisFamilyRevocations implements FamilyRevocations {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async revoke(familyId: string, forSeconds: number): Promise<void> {
    await this.redis.set(this.key(familyId), '1', 'EX', forSeconds);
  }

  async isRevoked(familyId: string): Promise<boolean> {
    try {
      return (await this.redis.exists(this.key(familyId))) === 1;
    } catch {
      return false;
    }
  }

  private key(familyId: string) {
    return `${this.prefix}:revoked-family:${familyId}`;
  }
}
