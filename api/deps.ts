import type { Db, TransactionWriter } from '../db/client';
import { RedisFamilyRevocations } from '../domain/auth/token-revocations';
import type { TokenSettings } from '../domain/auth/tokens';
import type { OrderContext } from '../domain/orders/context';
import type { StripeRefundLister } from '../domain/orders/stripe-events';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import type { PartitionedQueues } from '../queues/partitioned';
import type { Metrics } from '../wiring/metrics';

/** What the HTTP edge is built from; tests build it against their own database and prefix. */
export interface AppDeps {
  config: Config;
  db: Db;
  redis: RedisClient;
  logger: Logger;
  orders: OrderContext;
  queues: PartitionedQueues;
  /** This app's Prometheus registry; createApp makes one when absent (cache and breaker code may share it). */
  metrics?: Metrics;
  /**
   * `POST /orders`'s batch INSERTs in one round trip (db/client.ts `oneRoundTripWriter`, on a pool of
   * its own); without it the batch uses drizzle's transaction on `db`.
   */
  writeTransaction?: TransactionWriter;
  /** Stripe's list of a payment's refunds, for its webhooks (PAYMENT_GATEWAY=stripe only). */
  stripeRefunds?: StripeRefundLister | null;
}

export function tokenSettings({ config, redis }: Pick<AppDeps, 'config' | 'redis'>): TokenSettings {
  return {
    secret: config.jwtSecret,
    accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
    revocations: new RedisFamilyRevocations(redis, config.QUEUE_PREFIX),
  };
}
