import {
  type ChargeRequest,
  type ChargeResult,
  type GatewayTransaction,
  GatewayUnavailableError,
  type PaymentGateway,
  type RefundRequest,
} from '../../domain/payments/gateway';

/**
 * A real gateway behind a counter at the port: how often the app asked for a charge or a refund,
 * per idempotency key. Counts calls, not ledger rows (the ledger's unique keys would hide a second call).
 */
export class CountingGateway implements PaymentGateway {
  readonly name = 'counting';
  readonly charges = new Map<string, number>();
  readonly refunds = new Map<string, number>();
  /** Refund calls in progress right now, and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly inner: PaymentGateway) {}

  charge(req: ChargeRequest): Promise<ChargeResult> {
    this.charges.set(req.idempotencyKey, (this.charges.get(req.idempotencyKey) ?? 0) + 1);
    return this.inner.charge(req);
  }

  async refund(req: RefundRequest): Promise<{ ref: string } | null> {
    this.refunds.set(req.idempotencyKey, (this.refunds.get(req.idempotencyKey) ?? 0) + 1);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      return await this.inner.refund(req);
    } finally {
      this.inFlight--;
    }
  }

  transactions(chargeIdempotencyKey: string): Promise<GatewayTransaction[]> {
    return this.inner.transactions(chargeIdempotencyKey);
  }
}

/**
 * A charge that times out on our side and lands at the processor later: `charge` answers with a
 * timeout at once and keeps the request; `land()` then makes the charge at the real gateway, as a
 * processor that received the request before the connection dropped would.
 */
export class LateChargeGateway implements PaymentGateway {
  readonly name = 'late-charge';
  private held: ChargeRequest[] = [];

  constructor(private readonly inner: PaymentGateway) {}

  async charge(req: ChargeRequest): Promise<ChargeResult> {
    this.held.push(req);
    throw new GatewayUnavailableError('injected: the charge call timed out (the processor still has it)');
  }

  /** The held charges reach the processor now. */
  async land(): Promise<void> {
    const held = this.held;
    this.held = [];
    for (const req of held) await this.inner.charge(req);
  }

  refund(req: RefundRequest): Promise<{ ref: string } | null> {
    return this.inner.refund(req);
  }

  transactions(chargeIdempotencyKey: string): Promise<GatewayTransaction[]> {
    return this.inner.transactions(chargeIdempotencyKey);
  }
}

/** A gateway whose refund answer is held back until `release()`: a slow "not charged" reply. */
export class HeldRefundGateway implements PaymentGateway {
  readonly name = 'held-refund';
  private gate = Promise.withResolvers<void>();
  /** Resolves once a refund call has its answer from the processor and is waiting to return it. */
  readonly answered = Promise.withResolvers<void>();

  constructor(private readonly inner: PaymentGateway) {}

  charge(req: ChargeRequest): Promise<ChargeResult> {
    return this.inner.charge(req);
  }

  async refund(req: RefundRequest): Promise<{ ref: string } | null> {
    const answer = await this.inner.refund(req);
    this.answered.resolve();
    await this.gate.promise;
    return answer;
  }

  release(): void {
    this.gate.resolve();
  }

  transactions(chargeIdempotencyKey: string): Promise<GatewayTransaction[]> {
    return this.inner.transactions(chargeIdempotencyKey);
  }
}
