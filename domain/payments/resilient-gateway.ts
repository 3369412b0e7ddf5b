import type { Breaker } from '../resilience';
import { ForwardingGateway } from './forwarding-gateway';
import {
  type ChargeRequest,
  type ChargeResult,
  GatewayUnavailableError,
  type PaymentGateway,
  type PaymentOperation,
  type RefundRequest,
} from './gateway';

export const isGatewayOutage = (err: Error) => err instanceof GatewayUnavailableError;

/**
 * The gateway behind a breaker: same port, so the saga does not know it is there. Reads of the
 * ledger (`transactions`, for the status page) pass straight through: not worth opening the circuit over.
 */
export class ResilientGateway extends ForwardingGateway {
  constructor(
    inner: PaymentGateway,
    private readonly breaker: Breaker,
  ) {
    super(inner);
  }

  override charge(req: ChargeRequest): Promise<ChargeResult> {
    return this.breaker.run(() => this.inner.charge(req));
  }

  override authorize(req: ChargeRequest): Promise<ChargeResult> {
    return this.breaker.run(() => this.inner.authorize(req));
  }

  override capture(op: PaymentOperation): Promise<{ ref: string } | null> {
    return this.breaker.run(() => this.inner.capture(op));
  }

  override void(op: PaymentOperation): Promise<{ ref: string } | null> {
    return this.breaker.run(() => this.inner.void(op));
  }

  override refund(req: RefundRequest): Promise<{ ref: string } | null> {
    return this.breaker.run(() => this.inner.refund(req));
  }
}
