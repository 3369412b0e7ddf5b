import type { Db } from '../db/client';
import { RedisRiskCounters } from '../domain/fraud/counters';
import { loadCommittedModel, type RiskModel } from '../domain/fraud/model';
import type { RiskAssessment } from '../domain/fraud/screening';
import { BatchingEmailTransport } from '../domain/notifications/batching-email';
import { createEmailTransport, createSmsTransport } from '../domain/notifications/log-transports';
import type { Transports } from '../domain/notifications/notifications';
import { RedisRequestWindow } from '../domain/notifications/request-window';
import { isSendOutage, ResilientEmailTransport } from '../domain/notifications/resilient-transports';
import type { OrderContext } from '../domain/orders/context';
import { FailedPaymentSignals } from '../domain/orders/failed-payments';
import type { StripeRefundLister } from '../domain/orders/stripe-events';
import type { PaymentGateway } from '../domain/payments/gateway';
import { isGatewayOutage, ResilientGateway } from '../domain/payments/resilient-gateway';
import { SimulatedGateway } from '../domain/payments/simulated-gateway';
import { StripeGateway } from '../domain/payments/stripe-gateway';
import { Breaker, type CircuitStateName } from '../domain/resilience';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import { PartitionedQueues } from '../queues/partitioned';
import { partitionPrefixes } from '../queues/partitions';
import { RedisOrderEvents } from './order-events';
import { jobTelemetry } from './tracing';

/** The composition root shared by the API and the workers: one place that picks the adapters. */
export function createGateway(config: Config, db: Db, onState?: BreakerListener): PaymentGateway {
  return new ResilientGateway(
    paymentProcessor(config, db),
    breaker(config, 'payment_gateway', isGatewayOutage, onState),
  );
}

/** Stripe's own list of a payment's refunds, for its webhooks; none unless PAYMENT_GATEWAY=stripe. */
export function createStripeRefundLister(config: Config): StripeRefundLister | undefined {
  if (config.PAYMENT_GATEWAY !== 'stripe' || !config.STRIPE_SECRET_KEY) return undefined;
  return new StripeGateway({
    secretKey: config.STRIPE_SECRET_KEY,
    apiUrl: config.STRIPE_API_URL,
    timeoutMs: config.GATEWAY_TIMEOUT_MS,
  });
}

/** The processor PAYMENT_GATEWAY names (config checked that Stripe has its key). */
function paymentProcessor(config: Config, db: Db): PaymentGateway {
  if (config.PAYMENT_GATEWAY === 'stripe' && config.STRIPE_SECRET_KEY) {
    return new StripeGateway({
      secretKey: config.STRIPE_SECRET_KEY,
      apiUrl: config.STRIPE_API_URL,
      timeoutMs: config.GATEWAY_TIMEOUT_MS,
    });
  }
  return new SimulatedGateway(db, {
    latencyMs: config.GATEWAY_LATENCY_MS,
    failureRate: config.GATEWAY_FAILURE_RATE,
  });
}

export type BreakerListener = (name: string, state: CircuitStateName) => void;

/** One breaker per dependency per process, configured from the environment. */
export function breaker(
  config: Config,
  name: string,
  isTransient: (err: Error) => boolean,
  onState?: BreakerListener,
): Breaker {
  return new Breaker(
    name,
    {
      failureRate: config.BREAKER_FAILURE_RATE,
      windowMs: config.BREAKER_WINDOW_MS,
      minimumRps: config.BREAKER_MIN_RPS,
      halfOpenAfterMs: config.BREAKER_HALF_OPEN_MS,
      timeoutMs: config.GATEWAY_TIMEOUT_MS,
      retries: config.BREAKER_RETRIES,
    },
    isTransient,
    onState,
  );
}

export function createOrderContext(
  config: Config,
  db: Db,
  redis: RedisClient,
  gateway = createGateway(config, db),
  observeRisk?: (a: RiskAssessment) => void,
): OrderContext {
  const counters = new RedisRiskCounters(redis, config.QUEUE_PREFIX);
  return {
    db,
    gateway,
    events: new FailedPaymentSignals(new RedisOrderEvents(redis, config.QUEUE_PREFIX), db, counters),
    reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
    piiKey: config.piiKey,
    screening: {
      counters,
      model: committedModel(),
      enabled: config.FRAUD_SCREENING,
      reviewAt: config.RISK_REVIEW_AT,
      rejectAt: config.RISK_REJECT_AT,
      maxHolds: config.MAX_UNPAID_ORDERS,
      ...(observeRisk ? { observe: observeRisk } : {}),
    },
  };
}

let shippedModel: RiskModel | undefined;
/** The committed weights, parsed once per process. */
function committedModel(): RiskModel {
  shippedModel ??= loadCommittedModel();
  return shippedModel;
}

/** The producer over every partition's flow family (one family unless QUEUE_PARTITIONS > 1). */
export function createQueues(config: Config, redis: RedisClient): PartitionedQueues {
  return new PartitionedQueues(
    redis,
    partitionPrefixes(config.QUEUE_PREFIX, config.QUEUE_PARTITIONS),
    { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS },
    jobTelemetry(),
  );
}

export function createTransports(config: Config, logger: Logger, onState?: BreakerListener): Transports {
  const email = createEmailTransport({
    resendApiKey: config.RESEND_API_KEY,
    from: config.EMAIL_FROM,
    logger,
  });
  return {
    email: new ResilientEmailTransport(email, breaker(config, 'email', isSendOutage, onState)),
    sms: createSmsTransport({ logger }),
  };
}

/**
 * Email through the provider's batch endpoint, at most EMAIL_RATE_MAX requests per
 * EMAIL_RATE_DURATION_MS across every worker process (a window in Redis): one request carries up to
 * EMAIL_BATCH_SIZE messages. SMS goes its own way (another provider, not under the email quota).
 */
export function sendInBatches(config: Config, redis: RedisClient, transports: Transports): Transports {
  const limit = new RedisRequestWindow(
    redis,
    `${config.QUEUE_PREFIX}:limit:email-requests`,
    config.EMAIL_RATE_MAX,
    config.EMAIL_RATE_DURATION_MS,
  );
  return {
    ...transports,
    email: new BatchingEmailTransport(transports.email, limit, {
      maxBatch: config.EMAIL_BATCH_SIZE,
      lingerMs: config.EMAIL_BATCH_LINGER_MS,
    }),
  };
}
