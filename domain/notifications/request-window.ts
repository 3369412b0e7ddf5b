import type { RedisClient } from '../../lib/redis';
import type { RequestRateLimit } from './transports';

/**
 * A sliding window of the last `max` request times in one Redis sorted set, on Redis's clock: at most
 * `max` requests in any `windowMs`, across every process that shares the key. Answers 0 when a request
 * may go now (and records it), else how many ms until the oldest one leaves the window.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now + 1)
`;

/**
 * The email provider's request rate (EMAIL_RATE_MAX per EMAIL_RATE_DURATION_MS), shared through Redis.
 * The window is kept a tenth longer (at most 250 ms): the provider counts a request when it arrives,
 * this when it may leave, and the time between (building the request, a busy event loop, the network)
 * varies; without the margin two requests a window apart can land inside one of the provider's.
 */
export class RedisRequestWindow implements RequestRateLimit {
  private readonly windowMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly max: number,
    windowMs: number,
  ) {
    this.windowMs = windowMs + Math.min(250, Math.ceil(windowMs / 10));
  }

  async acquire(): Promise<void> {
    for (;;) {
      const wait = Number(
        await this.redis.eval(ACQUIRE, 1, this.key, this.max, this.windowMs, crypto.randomUUID()),
      );
      if (wait <= 0) return;
      await Bun.sleep(wait);
    }
  }
}
