import Stripe from 'stripe';
import {
  type ChargeRequest,
  type ChargeResult,
  type GatewayTransaction,
  GatewayUnavailableError,
  type PaymentGateway,
  type PaymentOperation,
  type RefundRequest,
} from './gateway';
import { declineReason } from './stripe-declines';

export interface StripeGatewayOptions {
  secretKey: string;
  /** `https://api.stripe.com`, or another Stripe-compatible server (stripe-mock, a test stand-in). */
  apiUrl: string;
  /** The SDK gives up on a request after this long (the breaker's own timeout is the same). */
  timeoutMs: number;
}

/** Our metadata on every PaymentIntent: how a webhook (or a lost answer) finds the order again. */
export const ORDER_ID_METADATA = 'order_id';
export const CHARGE_KEY_METADATA = 'orderflow_charge_key';
/** On a refund Orderflow made itself: the idempotency key it was made with. */
export const REFUND_KEY_METADATA = 'orderflow_refund_key';

/** The order id behind a charge key (`chg_<orderId>`), for the PaymentIntent's metadata. */
const orderIdOf = (chargeIdempotencyKey: string) => chargeIdempotencyKey.replace(/^chg_/, '');

/**
 * Stripe through its official SDK: a payment is a PaymentIntent (confirmed at once; captured at once
 * for a charge, `capture_method=manual` for an authorization), its id the payment's `ref`. Every POST
 * carries the port's idempotency key, so a retry after a crash or a lost answer gets Stripe's first
 * answer back; the SDK's own retries are off (the breaker retries, with the same key), and its
 * automatic key (one per process and call) is never relied on.
 */
export class StripeGateway implements PaymentGateway {
  readonly name = 'stripe';
  readonly testMode: boolean;
  private readonly stripe: Stripe;

  constructor(options: StripeGatewayOptions) {
    this.testMode = options.secretKey.startsWith('sk_test_');
    this.stripe = stripeClient(options);
  }

  charge(req: ChargeRequest): Promise<ChargeResult> {
    return this.open(req, 'automatic');
  }

  authorize(req: ChargeRequest): Promise<ChargeResult> {
    return this.open(req, 'manual');
  }

  async capture(op: PaymentOperation): Promise<{ ref: string } | null> {
    const pi = await this.find(op);
    if (!pi) return null;
    if (pi.status === 'succeeded') return { ref: pi.id };
    if (pi.status !== 'requires_capture') return null;
    const captured = await this.settle(
      () => this.stripe.paymentIntents.capture(pi.id, {}, { idempotencyKey: op.idempotencyKey }),
      pi.id,
    );
    // A void won the race: nothing to capture.
    return captured.status === 'succeeded' ? { ref: captured.id } : null;
  }

  async void(op: PaymentOperation): Promise<{ ref: string } | null> {
    const pi = await this.find(op);
    if (!pi) return null;
    if (pi.status === 'canceled') return wasAuthorized(pi) ? { ref: pi.id } : null;
    // Captured (nothing to void), or never authorized (declined): the port's null.
    if (pi.status !== 'requires_capture') return null;
    const canceled = await this.settle(
      () => this.stripe.paymentIntents.cancel(pi.id, {}, { idempotencyKey: op.idempotencyKey }),
      pi.id,
    );
    // A capture won the race: nothing to void.
    return canceled.status === 'canceled' ? { ref: canceled.id } : null;
  }

  async refund(req: RefundRequest): Promise<{ ref: string } | null> {
    const pi = await this.find(req);
    if (pi?.status !== 'succeeded') return null;
    try {
      const refund = await this.call(() =>
        this.stripe.refunds.create(
          {
            payment_intent: pi.id,
            ...(req.amountCents !== undefined ? { amount: req.amountCents } : {}),
            metadata: {
              [ORDER_ID_METADATA]: orderIdOf(req.chargeIdempotencyKey),
              [REFUND_KEY_METADATA]: req.idempotencyKey,
            },
          },
          { idempotencyKey: req.idempotencyKey },
        ),
      );
      return { ref: refund.id };
    } catch (err) {
      // Stripe refuses to refund past what it captured: the port's "no captured money to refund".
      const code = err instanceof Stripe.errors.StripeInvalidRequestError ? err.code : undefined;
      if (code === 'charge_already_refunded' || code === 'amount_too_large') return null;
      throw err;
    }
  }

  async transactions(chargeIdempotencyKey: string, paymentRef?: string): Promise<GatewayTransaction[]> {
    const pi = await this.find({ chargeIdempotencyKey, ...(paymentRef ? { paymentRef } : {}) });
    if (!pi) return [];
    const at = new Date(pi.created * 1000);
    const out: GatewayTransaction[] = [];
    const ref = pi.id;
    if (pi.capture_method !== 'manual') {
      if (pi.status === 'succeeded')
        out.push({ type: 'charge', amountCents: pi.amount_received, gatewayRef: ref, at });
    } else if (wasAuthorized(pi)) {
      out.push({ type: 'authorization', amountCents: pi.amount, gatewayRef: ref, at });
      if (pi.status === 'succeeded')
        out.push({ type: 'capture', amountCents: pi.amount_received, gatewayRef: ref, at });
      if (pi.status === 'canceled') {
        const voidedAt = pi.canceled_at ? new Date(pi.canceled_at * 1000) : at;
        out.push({ type: 'void', amountCents: pi.amount, gatewayRef: ref, at: voidedAt });
      }
    }
    if (pi.status === 'succeeded') {
      for (const r of await this.refundsOf(pi.id)) {
        if (r.status === 'succeeded' || r.status === 'pending')
          out.push({
            type: 'refund',
            amountCents: r.amount,
            gatewayRef: r.id,
            at: new Date(r.created * 1000),
          });
      }
    }
    return out;
  }

  /** Every refund Stripe holds for a PaymentIntent, ours (with our key in `metadata`) and the dashboard's. */
  async refundsOf(paymentIntentId: string): Promise<Stripe.Refund[]> {
    const list = await this.call(() =>
      this.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 }),
    );
    // Stripe lists the newest first.
    return [...list.data].reverse().sort((a, b) => a.created - b.created);
  }

  private async open(req: ChargeRequest, captureMethod: 'automatic' | 'manual'): Promise<ChargeResult> {
    const source = paymentSource(req.token);
    if (!source) return { outcome: 'declined', code: 'invalid_token' };
    const orderId = orderIdOf(req.idempotencyKey);
    try {
      const pi = await this.call(() =>
        this.stripe.paymentIntents.create(
          {
            amount: req.amountCents,
            currency: req.currency.toLowerCase(),
            confirm: true,
            capture_method: captureMethod,
            // Confirmed server-side, with no customer to send anywhere: no redirect-based method.
            automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
            ...source,
            metadata: { [ORDER_ID_METADATA]: orderId, [CHARGE_KEY_METADATA]: req.idempotencyKey },
          } as Stripe.PaymentIntentCreateParams,
          { idempotencyKey: req.idempotencyKey },
        ),
      );
      const expected = captureMethod === 'manual' ? 'requires_capture' : 'succeeded';
      if (pi.status === expected) return { outcome: 'succeeded', ref: pi.id };
      // 3-D Secure and friends need the customer, whom a back-end confirmation cannot reach.
      if (pi.status === 'requires_action') return { outcome: 'declined', code: 'authentication_required' };
      return { outcome: 'declined', code: declineReason(pi.last_payment_error ?? {}) };
    } catch (err) {
      if (err instanceof Stripe.errors.StripeCardError)
        return { outcome: 'declined', code: declineReason(err) };
      // A PaymentMethod or token Stripe does not know (or a test one used with a live key).
      if (err instanceof Stripe.errors.StripeInvalidRequestError && err.code === 'resource_missing')
        return { outcome: 'declined', code: 'invalid_token' };
      throw err;
    }
  }

  /** The PaymentIntent of a payment: by its id when we recorded it, else by our metadata (a lost answer). */
  private async find(op: {
    chargeIdempotencyKey: string;
    paymentRef?: string;
  }): Promise<Stripe.PaymentIntent | null> {
    if (op.paymentRef) return this.call(() => this.stripe.paymentIntents.retrieve(op.paymentRef as string));
    const found = await this.call(() =>
      this.stripe.paymentIntents.search({
        query: `metadata['${CHARGE_KEY_METADATA}']:'${op.chargeIdempotencyKey}'`,
        limit: 1,
      }),
    );
    return found.data[0] ?? null;
  }

  /**
   * A capture or cancel that found the PaymentIntent in another state than we read (another
   * operation on it won the race): Stripe refuses it, and the PaymentIntent as it is now answers.
   */
  private async settle(fn: () => Promise<Stripe.PaymentIntent>, id: string): Promise<Stripe.PaymentIntent> {
    try {
      return await this.call(fn);
    } catch (err) {
      const code = err instanceof Stripe.errors.StripeInvalidRequestError ? err.code : undefined;
      if (code !== 'payment_intent_unexpected_state') throw err;
      return this.call(() => this.stripe.paymentIntents.retrieve(id));
    }
  }

  /** Stripe's answers that a retry may change (network, 5xx, 429, a key still in flight) become outages. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isTransient(err)) throw new GatewayUnavailableError(`stripe: ${(err as Error).message}`);
      throw err;
    }
  }
}

/** Money was set aside on the card at some point: awaiting capture, captured, or voided after that. */
function wasAuthorized(pi: Stripe.PaymentIntent): boolean {
  if (pi.status === 'requires_capture' || pi.status === 'succeeded') return true;
  return pi.status === 'canceled' && pi.latest_charge !== null && pi.last_payment_error === null;
}

function isTransient(err: unknown): boolean {
  if (err instanceof Stripe.errors.StripeConnectionError) return true;
  if (err instanceof Stripe.errors.StripeRateLimitError) return true;
  if (!(err instanceof Stripe.errors.StripeError)) return false;
  const status = err.statusCode ?? 0;
  return status >= 500 || status === 409 || status === 429;
}

/**
 * A PaymentMethod id goes as `payment_method`; a token (`tok_…`) as the card of `payment_method_data`,
 * which Stripe still accepts (the SDK's types leave that form out: Stripe.js makes PaymentMethods now).
 */
type PaymentSource =
  | { payment_method: string }
  | { payment_method_data: { type: 'card'; card: { token: string } } };

function paymentSource(token: string): PaymentSource | null {
  if (token.startsWith('pm_')) return { payment_method: token };
  if (token.startsWith('tok_')) return { payment_method_data: { type: 'card', card: { token } } };
  return null;
}

function stripeClient(options: StripeGatewayOptions): Stripe {
  const url = new URL(options.apiUrl);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return new Stripe(options.secretKey, {
    host: url.hostname,
    port: url.port || (protocol === 'http' ? 80 : 443),
    protocol,
    // Fetch is Bun's own HTTP client; the SDK's Node one relies on parts of `http` Bun lacks.
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 0,
    timeout: options.timeoutMs,
    telemetry: false,
  });
}
