import type { Db } from '../../db/client';
import type { Screening } from '../fraud/screen';
import type { PaymentGateway } from '../payments/gateway';
import type { OrderEventSink } from './status';

/** What the order rules need from the outside world, handed in by the API or a worker. */
export interface OrderContext {
  db: Db;
  gateway: PaymentGateway;
  events: OrderEventSink;
  reservationTtlSeconds: number;
  /** Fraud screening before every charge. */
  screening: Screening;
}
