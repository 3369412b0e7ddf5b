import type { Db } from '../../db/client';
import type { Screening } from '../fraud/screening';
import type { PaymentGateway } from '../payments/gateway';
import type { OrderEventSink } from './status';

/** What the order rules need from the outside world, handed in by the API or a worker. */
export interface OrderContext {
  db: Db;
  gateway: PaymentGateway;
  events: OrderEventSink;
  reservationTtlSeconds: number;
  /** Decrypts a customer's phone for the outcome messages written with a cancel or an expiry (the outbox). */
  piiKey: Uint8Array<ArrayBuffer>;
  /** Fraud screening before every charge. */
  screening: Screening;
}
