/** The payment processor as the saga sees it. Every call carries an idempotency key the processor honours. */
export interface ChargeRequest {
  idempotencyKey: string;
  token: string;
  amountCents: number;
  currency: string;
}

export type ChargeResult =
  /** ref: the processor's id of the payment (Stripe: the PaymentIntent id). */
  | { outcome: 'succeeded'; ref: string }
  /** card_declined, insufficient_funds, invalid_token, … */
  | { outcome: 'declined'; code: string };

/** Acts on the payment made with `chargeIdempotencyKey` (ref: its processor id when we know it). */
export interface PaymentOperation {
  idempotencyKey: string;
  chargeIdempotencyKey: string;
  paymentRef?: string;
}

/** A refund of the payment; `amountCents` absent: all that is left of what was captured. */
export interface RefundRequest extends PaymentOperation {
  amountCents?: number;
}

export type GatewayTransactionType = 'authorization' | 'capture' | 'charge' | 'void' | 'refund';

export interface GatewayTransaction {
  type: GatewayTransactionType;
  amountCents: number;
  gatewayRef: string;
  at: Date;
}

export interface PaymentGateway {
  readonly name: string;
  /** True when screening test tokens (tok_riskLevelElevated/Highest) may steer screening: simulated, or a Stripe sk_test_ key. */
  readonly testMode: boolean;
  /** Authorize and capture at once. */
  charge(req: ChargeRequest): Promise<ChargeResult>;
  /** The money is set aside on the card, not taken. */
  authorize(req: ChargeRequest): Promise<ChargeResult>;
  /** Takes the authorized money; null: no such authorization (never made, voided). */
  capture(op: PaymentOperation): Promise<{ ref: string } | null>;
  /** Cancels an authorization; null: nothing to void (never authorized, or captured already). */
  void(op: PaymentOperation): Promise<{ ref: string } | null>;
  /**
   * Gives captured money back; null when there is no captured money to refund (or less than the
   * amount asked for: the processor never refunds past what it captured).
   */
  refund(req: RefundRequest): Promise<{ ref: string } | null>;
  /** Every operation the processor accepted on the payment made with this key. */
  transactions(chargeIdempotencyKey: string, paymentRef?: string): Promise<GatewayTransaction[]>;
}

/** The processor could not be reached, or answered 5xx or 429: a retry may succeed (the breaker counts it). */
export class GatewayUnavailableError extends Error {
  constructor(message = 'payment gateway unavailable') {
    super(message);
    this.name = 'GatewayUnavailableError';
  }
}

export const chargeKey = (orderId: string) => `chg_${orderId}`;
export const captureKey = (orderId: string) => `cap_${orderId}`;
export const voidKey = (orderId: string) => `void_${orderId}`;
/** The full refund of a cancelled or failed order. */
export const refundKey = (orderId: string) => `rfd_${orderId}`;
/** One refund after the sale, by its row id. */
export const refundIdKey = (refundId: string) => `rfd_${refundId}`;
