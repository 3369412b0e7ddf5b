import type { Redis } from 'ioredis';
import type { Db } from '../db/client';
import type { Transports } from '../domain/notifications/notifications';
import type { OrderContext } from '../domain/orders/context';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../lib/metrics';
import type { OrderQueues } from '../queues/producer';

/** What a worker process is built from; tests hand in their own gateway or transports here. */
export interface WorkerDeps {
  config: Config;
  db: Db;
  /** A connection that waits through Redis outages (`maxRetriesPerRequest: null`). */
  redis: Redis;
  logger: Logger;
  orders: OrderContext;
  transports: Transports;
  queues: OrderQueues;
  /** Job durations and breaker states of this process, when someone scrapes them. */
  metrics?: Metrics;
}
