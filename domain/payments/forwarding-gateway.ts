import type {
  ChargeRequest,
  ChargeResult,
  GatewayTransaction,
  PaymentGateway,
  PaymentOperation,
  RefundRequest,
} from './gateway';

/**
 * A gateway that hands every operation to another one: the base of wrappers that change one or two
 * operations (a breaker, a test's counter or fault) and must pass the rest through unchanged.
 */
export class ForwardingGateway implements PaymentGateway {
  readonly name: string;
  readonly testMode: boolean;
  constructor(protected readonly inner: PaymentGateway) {
    this.name = inner.name;
    this.testMode = inner.testMode;
  }

  charge(req: ChargeRequest): Promise<ChargeResult> {
    return this.inner.charge(req);
  }

  authorize(req: ChargeRequest): Promise<ChargeResult> {
    return this.inner.authorize(req);
  }

  capture(op: PaymentOperation): Promise<{ ref: string } | null> {
    return this.inner.capture(op);
  }

  void(op: PaymentOperation): Promise<{ ref: string } | null> {
    return this.inner.void(op);
  }

  refund(req: RefundRequest): Promise<{ ref: string } | null> {
    return this.inner.refund(req);
  }

  transactions(chargeIdempotencyKey: string, paymentRef?: string): Promise<GatewayTransaction[]> {
    return this.inner.transactions(chargeIdempotencyKey, paymentRef);
  }
}
