import type { Redis } from 'ioredis';
import type { Db } from '../db/client';
import { createEmailTransport, createSmsTransport } from '../domain/notifications/log-transports';
import type { Transports } from '../domain/notifications/notifications';
import type { OrderContext } from '../domain/orders/context';
import type { PaymentGateway } from '../domain/payments/gateway';
import { SimulatedGateway } from '../domain/payments/simulated-gateway';
import { RedisOrderEvents } from '../queues/order-events';
import { OrderQueues } from '../queues/producer';
import type { Config } from './config';
import type { Logger } from './logger';

/** The composition root shared by the API and the workers: one place that picks the adapters. */
export function createGateway(config: Config, db: Db): PaymentGateway {
  return new SimulatedGateway(db, {
    latencyMs: config.GATEWAY_LATENCY_MS,
    failureRate: config.GATEWAY_FAILURE_RATE,
  });
}

export function createOrderContext(
  config: Config,
  db: Db,
  redis: Redis,
  gateway = createGateway(config, db),
): OrderContext {
  return {
    db,
    gateway,
    events: new RedisOrderEvents(redis, config.QUEUE_PREFIX),
    reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
  };
}

export function createQueues(config: Config, redis: Redis): OrderQueues {
  return new OrderQueues(redis, config.QUEUE_PREFIX, {
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
}

export function createTransports(config: Config, logger: Logger): Transports {
  return {
    email: createEmailTransport({ resendApiKey: config.RESEND_API_KEY, from: config.EMAIL_FROM, logger }),
    sms: createSmsTransport({ logger }),
  };
}
