/** The payment processor as the saga sees it. Every call carries an idempotency key the processor honours. */
export interface ChargeRequest {
  idempotencyKey: string;
  token: string;
  amountCents: number;
  currency: string;
}

export type ChargeResult = { outcome: 'succeeded'; ref: string } | { outcome: 'declined'; code: string };

export interface RefundRequest {
  idempotencyKey: string;
  /** The key the charge was made with: the processor refunds that charge, if it took place. */
  chargeIdempotencyKey: string;
}

export interface GatewayTransaction {
  type: 'charge' | 'refund';
  amountCents: number;
  gatewayRef: string;
  at: Date;
}

export interface PaymentGateway {
  readonly name: string;
  charge(req: ChargeRequest): Promise<ChargeResult>;
  /** Refunds the charge made with `chargeIdempotencyKey`; null when no such charge succeeded. */
  refund(req: RefundRequest): Promise<{ ref: string } | null>;
  /** Every charge and refund the processor accepted for the charge with this key. */
  transactions(chargeIdempotencyKey: string): Promise<GatewayTransaction[]>;
}

/** The processor could not be reached or answered 5xx: a retry may succeed. */
export class GatewayUnavailableError extends Error {
  constructor(message = 'payment gateway unavailable') {
    super(message);
    this.name = 'GatewayUnavailableError';
  }
}

export const chargeKey = (orderId: string) => `chg_${orderId}`;
export const refundKey = (orderId: string) => `rfd_${orderId}`;
