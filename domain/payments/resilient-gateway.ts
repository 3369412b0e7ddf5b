import type { Breaker } from '../resilience';
import {
  type ChargeRequest,
  type ChargeResult,
  type GatewayTransaction,
  GatewayUnavailableError,
  type PaymentGateway,
  type RefundRequest,
} from './gateway';

export const isGatewayOutage = (err: Error) => err instanceof GatewayUnavailableError;

/** The gateway behind a breaker: same port, so the saga does not know it is there. */
export class ResilientGateway implements PaymentGateway {
  readonly name: string;
  constructor(
    private readonly inner: PaymentGateway,
    private readonly breaker: Breaker,
  ) {
    this.name = inner.name;
  }

  charge(req: ChargeRequest): Promise<ChargeResult> {
    return this.breaker.run(() => this.inner.charge(req));
  }

  refund(req: RefundRequest): Promise<{ ref: string } | null> {
    return this.breaker.run(() => this.inner.refund(req));
  }

  // A read of the ledger for the status page: not worth opening the circuit over.
  transactions(chargeIdempotencyKey: string): Promise<GatewayTransaction[]> {
    return this.inner.transactions(chargeIdempotencyKey);
  }
}
