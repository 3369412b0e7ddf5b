import type { Db } from '../db/client';
import type { Transports } from '../domain/notifications/notifications';
import type { OrderContext } from '../domain/orders/context';
import type { PaymentGateway } from '../domain/payments/gateway';
import type { CircuitStateName } from '../domain/resilience';
import type { Resolve } from '../domain/webhooks/addresses';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import type { PartitionedQueues } from '../queues/partitioned';
import {
  createGateway,
  createOrderContext,
  createQueues,
  createTransports,
  sendInBatches,
} from '../wiring/adapters';
import type { Metrics } from '../wiring/metrics';

/** What a worker process is built from; tests hand in their own gateway or transports here. */
export interface WorkerDeps {
  config: Config;
  db: Db;
  /** A connection that waits through Redis outages (`maxRetriesPerRequest: null`). */
  redis: RedisClient;
  logger: Logger;
  orders: OrderContext;
  transports: Transports;
  queues: PartitionedQueues;
  /** Job durations and breaker states of this process, when someone scrapes them. */
  metrics?: Metrics;
  /** Webhook hosts' name resolution (the system's when absent; tests point names anywhere). */
  resolve?: Resolve;
}

export interface WorkerParts {
  /** Replaces the configured payment gateway (tests wrap or fault the real one). */
  gateway?: PaymentGateway;
  /** Replaces the configured email and SMS transports. */
  transports?: Transports;
  /** The producer this process adds jobs with; made from the connection when absent. */
  queues?: PartitionedQueues;
  metrics?: Metrics;
  resolve?: Resolve;
}

/**
 * The workers' composition root: the configured gateway and transports behind their breakers,
 * whose state changes are logged and, with metrics, exported; email batched under the provider's
 * request rate.
 */
export function buildWorkerDeps(
  config: Config,
  conn: { db: Db; redis: RedisClient },
  logger: Logger,
  parts: WorkerParts = {},
): WorkerDeps {
  const { metrics } = parts;
  const onBreaker = (name: string, state: CircuitStateName) => {
    logger.warn({ breaker: name, state }, `circuit ${name} is ${state}`);
    metrics?.setCircuitState(name, state);
  };
  return {
    config,
    ...conn,
    logger,
    orders: createOrderContext(
      config,
      conn.db,
      conn.redis,
      parts.gateway ?? createGateway(config, conn.db, onBreaker),
      metrics ? (a) => metrics.observeRisk(a) : undefined,
    ),
    // Whatever the transports (tests bring stand-ins), email keeps to the provider's request rate.
    transports: sendInBatches(
      config,
      conn.redis,
      parts.transports ?? createTransports(config, logger, onBreaker),
    ),
    queues: parts.queues ?? createQueues(config, conn.redis),
    ...(metrics ? { metrics } : {}),
    ...(parts.resolve ? { resolve: parts.resolve } : {}),
  };
}
