import type { Server } from 'bun';
import Stripe from 'stripe';
import { type FormObject, fingerprint, obj, parseStripeForm, str } from './stripe-form';

/**
 * How the stand-in misbehaves: `500`/`503`/`429` answer as Stripe's edge does without doing anything;
 * `hang` holds the request unprocessed (its idempotency key stays in flight: a retry gets `409`);
 * `lose-answer` does the work, saves the idempotent result, then never answers (the network lost it).
 */
export type StripeOutage = 'none' | '500' | '503' | '429' | 'hang' | 'lose-answer';

type Json = Record<string, unknown>;

export interface StandInIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  currency: string;
  status:
    | 'requires_payment_method'
    | 'requires_capture'
    | 'succeeded'
    | 'canceled'
    | 'requires_confirmation'
    | 'requires_action';
  capture_method: 'automatic' | 'manual';
  confirmation_method: 'automatic';
  created: number;
  canceled_at: number | null;
  cancellation_reason: string | null;
  latest_charge: string | null;
  last_payment_error: Json | null;
  livemode: boolean;
  metadata: Record<string, string>;
  payment_method: string | null;
  payment_method_types: string[];
}

export interface StandInRefund {
  id: string;
  object: 'refund';
  amount: number;
  charge: string;
  currency: string;
  created: number;
  metadata: Record<string, string>;
  payment_intent: string;
  reason: string | null;
  status: 'succeeded';
}

interface StandInCharge {
  id: string;
  intent: string;
  amount: number;
  captured: boolean;
  amountCaptured: number;
  created: number;
}

/** A test card: what Stripe does with it in test mode. */
type Card = { ok: true; brand: string; risk: 'normal' | 'elevated' } | { ok: false; decline: string };

const testCards: Record<string, Card> = {
  visa: { ok: true, brand: 'visa', risk: 'normal' },
  chargeDeclined: { ok: false, decline: 'generic_decline' },
  chargeDeclinedInsufficientFunds: { ok: false, decline: 'insufficient_funds' },
  chargeDeclinedExpiredCard: { ok: false, decline: 'expired_card' },
  riskLevelElevated: { ok: true, brand: 'visa', risk: 'elevated' },
  riskLevelHighest: { ok: false, decline: 'fraudulent' },
};

/** Stripe's `code` for a decline: the specific ones have a code of their own, the rest `card_declined`. */
const codeOfDecline: Record<string, string> = { expired_card: 'expired_card' };

class StripeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
    readonly saved = true,
  ) {
    super(String(body.message ?? 'stripe error'));
  }
}

const invalid = (message: string, extra: Json = {}, status = 400) =>
  new StripeHttpError(status, { type: 'invalid_request_error', message, ...extra });

/**
 * Stands in for Stripe's HTTP API (the part the adapter uses), on a free loopback port, for tests that
 * drive the real `stripe` SDK: form-encoded requests in Stripe's bracket notation, `Bearer` keys,
 * PaymentIntents (create+confirm, retrieve, search by metadata, capture, cancel), Refunds (create,
 * list), `Idempotency-Key` replay as Stripe does it, error bodies as Stripe sends them, declines by test
 * card. It counts what it did (not what was asked: a replay moves no money), and can send webhooks.
 */
export class StripeStandIn {
  /** PaymentIntents created per idempotency key (`(none)` for requests without one). */
  readonly intentsCreated = new Map<string, number>();
  readonly intents = new Map<string, StandInIntent>();
  readonly refunds: StandInRefund[] = [];
  /** Captures and cancels carried out (replays not counted), by PaymentIntent id. */
  readonly captures: string[] = [];
  readonly cancels: string[] = [];
  /** Every request as received: answered status and whether it was a replay. */
  readonly requests: { method: string; path: string; key?: string; status: number; replayed: boolean }[] = [];
  private readonly charges = new Map<string, StandInCharge>();
  private readonly saved = new Map<string, { fingerprint: string; status: number; body: string }>();
  private readonly inFlight = new Set<string>();
  private readonly held = new Set<() => void>();
  private outage: StripeOutage = 'none';
  private outageLeft = 0;
  private seq = 0;
  private server: Server<undefined> | undefined;

  private constructor(readonly secretKey: string) {}

  /** Starts on a free loopback port; accepts requests made with `secretKey` only. */
  static start(secretKey = 'sk_test_standin_0123456789'): StripeStandIn {
    const standIn = new StripeStandIn(secretKey);
    standIn.server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => standIn.handle(req) });
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${this.server?.port}`;
  }

  get livemode(): boolean {
    return this.secretKey.startsWith('sk_live_');
  }

  /** The next `times` requests (all, by default) meet this outage; `none` ends it. */
  fail(outage: StripeOutage, times = Number.POSITIVE_INFINITY): void {
    this.outage = outage;
    this.outageLeft = times;
  }

  /** Lets every held request go on: a hung one is processed now (late), a lost answer is sent to nobody. */
  releaseHeld(): void {
    for (const release of this.held) release();
    this.held.clear();
  }

  async stop(): Promise<void> {
    this.releaseHeld();
    await this.server?.stop(true);
  }

  /** PaymentIntents that carry this order id in their metadata. */
  intentsOf(orderId: string): StandInIntent[] {
    return [...this.intents.values()].filter((pi) => pi.metadata.order_id === orderId);
  }

  refundsOf(intentId: string): StandInRefund[] {
    return this.refunds.filter((r) => r.payment_intent === intentId);
  }

  /** A refund made in Stripe's dashboard: no idempotency key, no metadata of ours. */
  refundInDashboard(intentId: string, amount?: number): StandInRefund {
    return this.createRefund({ payment_intent: intentId, ...(amount ? { amount: String(amount) } : {}) });
  }

  /** The Charge object as Stripe's `charge.*` events carry it. */
  chargeObject(intentId: string): Json {
    const pi = this.intents.get(intentId);
    const charge = pi?.latest_charge ? this.charges.get(pi.latest_charge) : undefined;
    if (!pi || !charge) throw new Error(`no charge for ${intentId}`);
    const refunded = this.refundsOf(intentId).reduce((sum, r) => sum + r.amount, 0);
    return {
      id: charge.id,
      object: 'charge',
      amount: charge.amount,
      amount_captured: charge.amountCaptured,
      amount_refunded: refunded,
      captured: charge.captured,
      created: charge.created,
      currency: pi.currency,
      livemode: pi.livemode,
      metadata: pi.metadata,
      paid: true,
      payment_intent: pi.id,
      refunded: refunded >= charge.amountCaptured && charge.amountCaptured > 0,
      status: 'succeeded',
      refunds: { object: 'list', data: this.refundsOf(intentId), has_more: false, url: '/v1/refunds' },
    };
  }

  disputeObject(intentId: string): Json {
    const charge = this.chargeObject(intentId);
    return {
      id: this.id('dp'),
      object: 'dispute',
      amount: charge.amount,
      charge: charge.id,
      currency: charge.currency,
      created: now(),
      payment_intent: intentId,
      reason: 'fraudulent',
      status: 'needs_response',
      livemode: this.livemode,
      metadata: {},
    };
  }

  /** An event as Stripe posts it to a webhook endpoint. */
  event(type: string, object: Json, id = this.id('evt')): Json {
    return {
      id,
      object: 'event',
      api_version: '2025-01-27.acacia',
      created: now(),
      data: { object },
      livemode: this.livemode,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
  }

  /** The body and `Stripe-Signature` header Stripe would send, signed with the SDK's own helper. */
  async signed(event: Json, secret: string, timestamp = now()): Promise<{ body: string; signature: string }> {
    const body = JSON.stringify(event, null, 2);
    const signature = await Stripe.webhooks.generateTestHeaderStringAsync({
      payload: body,
      secret,
      timestamp,
    });
    return { body, signature };
  }

  private id(prefix: string): string {
    return `${prefix}_${Date.now().toString(36)}${(++this.seq).toString(36).padStart(4, '0')}${Math.random().toString(36).slice(2, 8)}`;
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const method = req.method;
    const key = req.headers.get('idempotency-key') ?? undefined;
    const answer = (status: number, body: string, replayed = false) => {
      this.requests.push({ method, path: url.pathname, ...(key ? { key } : {}), status, replayed });
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'request-id': this.id('req'),
        'stripe-version': req.headers.get('stripe-version') ?? '2025-01-27.acacia',
      };
      if (key && method === 'POST') headers['idempotency-key'] = key;
      if (replayed) headers['idempotent-replayed'] = 'true';
      return new Response(body, { status, headers });
    };
    const error = (e: StripeHttpError) => answer(e.status, JSON.stringify({ error: e.body }));

    if (req.headers.get('authorization') !== `Bearer ${this.secretKey}`) {
      const given = /^Bearer\s+(\S+)/.exec(req.headers.get('authorization') ?? '')?.[1] ?? '';
      return error(
        invalid(
          given
            ? `Invalid API Key provided: ${given.slice(0, 8)}${'*'.repeat(Math.max(0, given.length - 12))}${given.slice(-4)}`
            : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
          {},
          401,
        ),
      );
    }
    const outage = this.takeOutage();
    if (outage === '429') {
      return error(
        invalid(
          'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
          {
            code: 'rate_limit',
          },
          429,
        ),
      );
    }
    if (outage === '500' || outage === '503') {
      return error(
        new StripeHttpError(Number(outage), {
          type: 'api_error',
          message: 'An unknown error occurred while processing your request.',
        }),
      );
    }
    const params = method === 'POST' ? parseStripeForm(await req.text()) : queryParams(url);

    if (method !== 'POST' || !key) {
      if (outage === 'hang') await this.hold();
      const done = this.route(method, url.pathname, params);
      if (outage === 'lose-answer') await this.hold();
      return 'status' in done ? answer(done.status, done.body) : answer(200, JSON.stringify(done.ok));
    }

    // Stripe's idempotency layer: a key in flight is refused, a finished one is replayed (the same
    // parameters) or refused (different ones). Results are saved once the endpoint ran.
    if (this.inFlight.has(key)) {
      return error(
        invalid(
          'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ' +
            `${key}. Please try again later.`,
          { code: 'idempotency_key_in_use' },
          409,
        ),
      );
    }
    const print = fingerprint(method, url.pathname, params);
    const first = this.saved.get(key);
    if (first) {
      if (first.fingerprint !== print) {
        return error(
          new StripeHttpError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          }),
        );
      }
      return answer(first.status, first.body, true);
    }
    this.inFlight.add(key);
    try {
      if (outage === 'hang') await this.hold();
      const done = this.route(method, url.pathname, params, key);
      const status = 'status' in done ? done.status : 200;
      const body = 'status' in done ? done.body : JSON.stringify(done.ok);
      if (!('status' in done) || done.saved) this.saved.set(key, { fingerprint: print, status, body });
      this.inFlight.delete(key);
      if (outage === 'lose-answer') await this.hold();
      return answer(status, body);
    } finally {
      this.inFlight.delete(key);
    }
  }

  private takeOutage(): StripeOutage {
    if (this.outage === 'none' || this.outageLeft <= 0) return 'none';
    this.outageLeft--;
    const outage = this.outage;
    if (this.outageLeft <= 0) this.outage = 'none';
    return outage;
  }

  /** Never answers on its own: `releaseHeld` (or `stop`) ends it, too late for the client's timeout. */
  private hold(): Promise<void> {
    return new Promise((resolve) => {
      this.held.add(resolve);
    });
  }

  private route(
    method: string,
    path: string,
    params: FormObject,
    key?: string,
  ): { ok: unknown } | { status: number; body: string; saved: boolean } {
    try {
      return { ok: this.dispatch(method, path, params, key) };
    } catch (err) {
      if (!(err instanceof StripeHttpError)) throw err;
      return { status: err.status, body: JSON.stringify({ error: err.body }), saved: err.saved };
    }
  }

  private dispatch(method: string, path: string, params: FormObject, key?: string): unknown {
    const m = /^\/v1\/(payment_intents|refunds)(?:\/([^/]+))?(?:\/(capture|cancel))?$/.exec(path);
    if (!m) throw invalid(`Unrecognized request URL (${method}: ${path}).`, {}, 404);
    const [, resource, id, action] = m;
    if (resource === 'payment_intents') {
      if (method === 'POST' && !id) return this.createIntent(params, key);
      if (method === 'GET' && id === 'search') return this.searchIntents(str(params.query) ?? '');
      if (!id) throw invalid(`Unrecognized request URL (${method}: ${path}).`, {}, 404);
      const pi = this.intent(id);
      if (method === 'GET' && !action) return pi;
      if (method === 'POST' && action === 'capture') return this.capture(pi, params);
      if (method === 'POST' && action === 'cancel') return this.cancel(pi, params);
    }
    if (resource === 'refunds') {
      if (method === 'POST' && !id) return this.createRefund(params);
      if (method === 'GET' && !id) {
        const intent = str(params.payment_intent);
        const data = this.refunds.filter((r) => !intent || r.payment_intent === intent).reverse();
        return { object: 'list', data, has_more: false, url: '/v1/refunds' };
      }
      const refund = this.refunds.find((r) => r.id === id);
      if (method === 'GET' && refund) return refund;
      throw invalid(`No such refund: '${id}'`, { code: 'resource_missing', param: 'id' }, 404);
    }
    throw invalid(`Unrecognized request URL (${method}: ${path}).`, {}, 404);
  }

  private intent(id: string): StandInIntent {
    const pi = this.intents.get(id);
    if (!pi)
      throw invalid(`No such payment_intent: '${id}'`, { code: 'resource_missing', param: 'intent' }, 404);
    return pi;
  }

  private createIntent(params: FormObject, key?: string): StandInIntent {
    const amount = Number(str(params.amount));
    if (str(params.amount) === undefined)
      throw invalid('Missing required param: amount.', { code: 'parameter_missing', param: 'amount' });
    if (!Number.isInteger(amount) || amount < 1)
      throw invalid('Invalid integer: amount', { code: 'parameter_invalid_integer', param: 'amount' });
    const currency = str(params.currency);
    if (!currency)
      throw invalid('Missing required param: currency.', { code: 'parameter_missing', param: 'currency' });
    const captureMethod = str(params.capture_method) ?? 'automatic';
    if (captureMethod !== 'automatic' && captureMethod !== 'manual')
      throw invalid('Invalid capture_method', { code: 'parameter_invalid_string', param: 'capture_method' });
    const { card, paymentMethod } = this.card(params);
    const metadata = Object.fromEntries(
      Object.entries(obj(params.metadata) ?? {}).map(([k, v]) => [k, String(v)]),
    ) as Record<string, string>;
    const pi: StandInIntent = {
      id: this.id('pi'),
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      currency: currency.toLowerCase(),
      status: 'requires_confirmation',
      capture_method: captureMethod,
      confirmation_method: 'automatic',
      created: now(),
      canceled_at: null,
      cancellation_reason: null,
      latest_charge: null,
      last_payment_error: null,
      livemode: this.livemode,
      metadata,
      payment_method: paymentMethod,
      payment_method_types: ['card'],
    };
    this.intents.set(pi.id, pi);
    this.intentsCreated.set(key ?? '(none)', (this.intentsCreated.get(key ?? '(none)') ?? 0) + 1);
    if (str(params.confirm) !== 'true') return pi;
    const charge: StandInCharge = {
      id: this.id('ch'),
      intent: pi.id,
      amount,
      captured: false,
      amountCaptured: 0,
      created: now(),
    };
    this.charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    if (!card.ok) {
      const code = codeOfDecline[card.decline] ?? 'card_declined';
      const lastError = {
        type: 'card_error',
        code,
        decline_code: card.decline,
        message:
          card.decline === 'insufficient_funds'
            ? 'Your card has insufficient funds.'
            : 'Your card was declined.',
        charge: charge.id,
        doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`,
        payment_method: { id: paymentMethod, object: 'payment_method', type: 'card' },
      };
      Object.assign(pi, {
        status: 'requires_payment_method',
        last_payment_error: lastError,
        payment_method: null,
      });
      throw new StripeHttpError(402, { ...lastError, payment_intent: { ...pi } });
    }
    if (captureMethod === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = amount;
    } else {
      pi.status = 'succeeded';
      pi.amount_received = amount;
      charge.captured = true;
      charge.amountCaptured = amount;
    }
    return pi;
  }

  /** The card behind `payment_method` (a test PaymentMethod) or `payment_method_data` (a test token). */
  private card(params: FormObject): { card: Card; paymentMethod: string } {
    const pm = str(params.payment_method);
    const data = obj(params.payment_method_data);
    const token = str(obj(data?.card)?.token);
    if (pm) {
      const card =
        pm.startsWith('pm_card_') && !this.livemode ? testCards[pm.slice('pm_card_'.length)] : undefined;
      if (!card)
        throw invalid(
          `No such PaymentMethod: '${pm}'${this.livemode && pm.startsWith('pm_card_') ? '; a similar object exists in test mode, but a live mode key was used to make this request.' : ''}`,
          { code: 'resource_missing', param: 'payment_method' },
        );
      return { card, paymentMethod: pm };
    }
    if (token) {
      const card =
        token.startsWith('tok_') && !this.livemode ? testCards[token.slice('tok_'.length)] : undefined;
      if (!card)
        throw invalid(
          `No such token: '${token}'${this.livemode && token.startsWith('tok_') ? '; a similar object exists in test mode, but a live mode key was used to make this request.' : ''}`,
          { code: 'resource_missing', param: 'payment_method_data[card][token]' },
        );
      return { card, paymentMethod: this.id('pm') };
    }
    throw invalid(
      "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with cus_..., specify a payment method attached to this customer along with the customer ID.",
      { code: 'payment_intent_unexpected_state', param: 'payment_method' },
    );
  }

  private searchIntents(query: string) {
    // The one form the adapter uses: metadata['key']:'value'.
    const m = /^metadata\['([^']+)'\]:'([^']*)'$/.exec(query.trim());
    if (!m)
      throw invalid(`Invalid search query: ${query}`, { code: 'parameter_invalid_string', param: 'query' });
    const [, field, value] = m;
    const data = [...this.intents.values()]
      .filter((pi) => field && pi.metadata[field] === value)
      .sort((a, b) => b.created - a.created);
    return {
      object: 'search_result',
      data,
      has_more: false,
      next_page: null,
      url: '/v1/payment_intents/search',
    };
  }

  private capture(pi: StandInIntent, params: FormObject): StandInIntent {
    if (pi.status !== 'requires_capture') {
      throw invalid(
        `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
        { code: 'payment_intent_unexpected_state', payment_intent: { ...pi } },
      );
    }
    const amount = str(params.amount_to_capture)
      ? Number(str(params.amount_to_capture))
      : pi.amount_capturable;
    if (!Number.isInteger(amount) || amount < 1 || amount > pi.amount_capturable)
      throw invalid('The amount to capture is invalid.', {
        code: 'amount_too_large',
        param: 'amount_to_capture',
      });
    const charge = this.charges.get(pi.latest_charge ?? '');
    if (charge) Object.assign(charge, { captured: true, amountCaptured: amount });
    Object.assign(pi, { status: 'succeeded', amount_received: amount, amount_capturable: 0 });
    this.captures.push(pi.id);
    return pi;
  }

  private cancel(pi: StandInIntent, params: FormObject): StandInIntent {
    if (pi.status === 'succeeded' || pi.status === 'canceled') {
      throw invalid(
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
        { code: 'payment_intent_unexpected_state', payment_intent: { ...pi } },
      );
    }
    Object.assign(pi, {
      status: 'canceled',
      amount_capturable: 0,
      canceled_at: now(),
      cancellation_reason: str(params.cancellation_reason) ?? null,
    });
    this.cancels.push(pi.id);
    return pi;
  }

  private createRefund(params: FormObject): StandInRefund {
    const intentId = str(params.payment_intent);
    const chargeId = str(params.charge);
    const pi = intentId
      ? this.intent(intentId)
      : [...this.intents.values()].find((p) => p.latest_charge === chargeId);
    if (!pi)
      throw invalid(
        'One of the following params should be provided for this request: payment_intent or charge.',
        { code: 'parameter_missing' },
      );
    const charge = this.charges.get(pi.latest_charge ?? '');
    if (!charge || pi.status !== 'succeeded' || !charge.captured) {
      throw invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, {
        code: 'charge_not_refundable',
        param: 'payment_intent',
      });
    }
    const refunded = this.refundsOf(pi.id).reduce((sum, r) => sum + r.amount, 0);
    const left = charge.amountCaptured - refunded;
    if (left <= 0)
      throw invalid(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
    const amount = str(params.amount) ? Number(str(params.amount)) : left;
    if (!Number.isInteger(amount) || amount < 1)
      throw invalid('Invalid positive integer', { code: 'parameter_invalid_integer', param: 'amount' });
    if (amount > left) {
      throw invalid(
        `Refund amount (${money(amount, pi.currency)}) is greater than unrefunded amount on charge (${money(left, pi.currency)})`,
        { code: 'amount_too_large', param: 'amount' },
      );
    }
    const refund: StandInRefund = {
      id: this.id('re'),
      object: 'refund',
      amount,
      charge: charge.id,
      currency: pi.currency,
      created: now(),
      metadata: Object.fromEntries(
        Object.entries(obj(params.metadata) ?? {}).map(([k, v]) => [k, String(v)]),
      ) as Record<string, string>,
      payment_intent: pi.id,
      reason: str(params.reason) ?? null,
      status: 'succeeded',
    };
    this.refunds.push(refund);
    return refund;
  }
}

const now = () => Math.floor(Date.now() / 1000);
const money = (cents: number, currency: string) =>
  `${currency === 'usd' ? '$' : ''}${(cents / 100).toFixed(2)}`;

function queryParams(url: URL): FormObject {
  return parseStripeForm(url.search.slice(1));
}
