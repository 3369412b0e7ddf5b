import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chargeKey, GatewayUnavailableError, voidKey } from '../domain/payments/gateway';
import { StripeGateway } from '../domain/payments/stripe-gateway';
import { StripeStandIn } from './support/stripe-stand-in';

// The adapter through the real `stripe` SDK, against the stand-in that speaks Stripe's wire format.
let stripe: StripeStandIn;
let gateway: StripeGateway;

beforeAll(() => {
  stripe = StripeStandIn.start();
  gateway = new StripeGateway({ secretKey: stripe.secretKey, apiUrl: stripe.url, timeoutMs: 1000 });
});
afterAll(async () => {
  await stripe.stop();
});

const order = () => `ord_${crypto.randomUUID().replace(/-/g, '').slice(0, 20)}`;
const charge = (orderId: string, token = 'tok_visa', amountCents = 2500) => ({
  idempotencyKey: chargeKey(orderId),
  token,
  amountCents,
  currency: 'EUR',
});

describe('charge', () => {
  test('a test token or PaymentMethod is charged: the ref is the PaymentIntent id, order id in metadata', async () => {
    for (const token of ['tok_visa', 'pm_card_visa']) {
      const id = order();
      const result = await gateway.charge(charge(id, token));
      expect(result).toMatchObject({ outcome: 'succeeded' });
      const [pi] = stripe.intentsOf(id);
      expect(result).toEqual({ outcome: 'succeeded', ref: pi?.id ?? '' });
      expect(pi).toMatchObject({
        amount: 2500,
        currency: 'eur',
        status: 'succeeded',
        capture_method: 'automatic',
      });
      expect(await gateway.transactions(chargeKey(id), pi?.id)).toMatchObject([
        { type: 'charge', amountCents: 2500, gatewayRef: pi?.id },
      ]);
    }
  });

  test("declines map to the simulated gateway's reasons", async () => {
    const cases: [string, string][] = [
      ['tok_chargeDeclined', 'card_declined'],
      ['pm_card_chargeDeclined', 'card_declined'],
      ['tok_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
      ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
      ['tok_chargeDeclinedExpiredCard', 'expired_card'],
      ['tok_noSuchToken', 'invalid_token'],
      ['pm_card_noSuchCard', 'invalid_token'],
      ['not_a_token', 'invalid_token'],
    ];
    for (const [token, code] of cases) {
      expect({ token, result: await gateway.charge(charge(order(), token)) }).toEqual({
        token,
        result: { outcome: 'declined', code },
      });
    }
  });

  test('the same key twice: one PaymentIntent, the first answer replayed (a decline too)', async () => {
    const id = order();
    const first = await gateway.charge(charge(id));
    const again = await gateway.charge(charge(id));
    expect(again).toEqual(first);
    expect(stripe.intentsCreated.get(chargeKey(id))).toBe(1);
    expect(stripe.requests.filter((r) => r.key === chargeKey(id)).map((r) => r.replayed)).toEqual([
      false,
      true,
    ]);

    const declined = order();
    expect(await gateway.charge(charge(declined, 'tok_chargeDeclined'))).toEqual(
      await gateway.charge(charge(declined, 'tok_chargeDeclined')),
    );
    expect(stripe.intentsCreated.get(chargeKey(declined))).toBe(1);
  });

  test('the same key with other parameters is an error, not a second payment', async () => {
    const id = order();
    await gateway.charge(charge(id, 'tok_visa', 1000));
    await expect(gateway.charge(charge(id, 'tok_visa', 2000))).rejects.toThrow(/same parameters/);
    expect(stripe.intentsCreated.get(chargeKey(id))).toBe(1);
  });
});

describe('outages', () => {
  test('500, 503 and 429 are GatewayUnavailableError, and nothing was created', async () => {
    for (const outage of ['500', '503', '429'] as const) {
      const id = order();
      stripe.fail(outage, 1);
      await expect(gateway.charge(charge(id))).rejects.toBeInstanceOf(GatewayUnavailableError);
      expect(stripe.intentsCreated.get(chargeKey(id))).toBeUndefined();
      expect(await gateway.charge(charge(id))).toMatchObject({ outcome: 'succeeded' });
      expect(stripe.intentsCreated.get(chargeKey(id))).toBe(1);
    }
  });

  test('an answer lost after Stripe charged: the retry gets the same PaymentIntent back', async () => {
    const id = order();
    stripe.fail('lose-answer', 1);
    await expect(gateway.charge(charge(id))).rejects.toBeInstanceOf(GatewayUnavailableError);
    expect(stripe.intentsCreated.get(chargeKey(id))).toBe(1);
    const retry = await gateway.charge(charge(id));
    expect(retry).toEqual({ outcome: 'succeeded', ref: stripe.intentsOf(id)[0]?.id ?? '' });
    expect(stripe.intentsCreated.get(chargeKey(id))).toBe(1);
    stripe.releaseHeld();
  });

  test('a hung request: the retry meets its key still in flight (409), an outage, never a second PaymentIntent', async () => {
    const id = order();
    stripe.fail('hang', 1);
    await expect(gateway.charge(charge(id))).rejects.toBeInstanceOf(GatewayUnavailableError);
    await expect(gateway.charge(charge(id))).rejects.toBeInstanceOf(GatewayUnavailableError);
    expect(stripe.requests.filter((r) => r.key === chargeKey(id)).map((r) => r.status)).toEqual([409]);
    stripe.releaseHeld();
    // Stripe finishes the first request late; the next retry gets its answer.
    let result = await gateway.charge(charge(id)).catch((e: Error) => e);
    const deadline = Date.now() + 5000;
    while (result instanceof GatewayUnavailableError && Date.now() < deadline) {
      await Bun.sleep(20);
      result = await gateway.charge(charge(id)).catch((e: Error) => e);
    }
    expect(result).toMatchObject({ outcome: 'succeeded' });
    expect(stripe.intentsCreated.get(chargeKey(id))).toBe(1);
  });

  test('a wrong key is not an outage (the breaker must not count it)', async () => {
    const wrong = new StripeGateway({ secretKey: 'sk_test_wrong', apiUrl: stripe.url, timeoutMs: 1000 });
    const err = await wrong.charge(charge(order())).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(GatewayUnavailableError);
    expect((err as Error).message).toContain('Invalid API Key');
  });
});

describe('authorize, capture, void, refund', () => {
  test('authorize holds the money (manual capture); capture takes it once', async () => {
    const id = order();
    const auth = await gateway.authorize(charge(id));
    const pi = stripe.intentsOf(id)[0];
    expect(auth).toEqual({ outcome: 'succeeded', ref: pi?.id ?? '' });
    expect(pi).toMatchObject({
      status: 'requires_capture',
      capture_method: 'manual',
      amount_capturable: 2500,
    });
    const op = { idempotencyKey: `cap_${id}`, chargeIdempotencyKey: chargeKey(id) };
    // Without the ref (a lost answer): found by its metadata.
    expect(await gateway.capture(op)).toEqual({ ref: pi?.id ?? '' });
    expect(await gateway.capture({ ...op, paymentRef: pi?.id ?? '' })).toEqual({ ref: pi?.id ?? '' });
    expect(stripe.captures.filter((c) => c === pi?.id)).toHaveLength(1);
    expect(
      await gateway.void({ idempotencyKey: voidKey(id), chargeIdempotencyKey: chargeKey(id) }),
    ).toBeNull();
    expect((await gateway.transactions(chargeKey(id))).map((t) => t.type)).toEqual([
      'authorization',
      'capture',
    ]);
  });

  test('void cancels an authorization; a voided one is never captured', async () => {
    const id = order();
    await gateway.authorize(charge(id));
    const op = { idempotencyKey: voidKey(id), chargeIdempotencyKey: chargeKey(id) };
    const voided = await gateway.void(op);
    expect(voided).toEqual({ ref: stripe.intentsOf(id)[0]?.id ?? '' });
    expect(await gateway.void(op)).toEqual(voided);
    expect(
      await gateway.capture({ idempotencyKey: `cap_${id}`, chargeIdempotencyKey: chargeKey(id) }),
    ).toBeNull();
    expect(stripe.cancels.filter((c) => c === voided?.ref)).toHaveLength(1);
    expect((await gateway.transactions(chargeKey(id))).map((t) => t.type)).toEqual(['authorization', 'void']);
  });

  test('capture and void racing on one authorization: exactly one wins, the other is null', async () => {
    for (let i = 0; i < 5; i++) {
      const id = order();
      await gateway.authorize(charge(id));
      const pi = stripe.intentsOf(id)[0]?.id ?? '';
      const [captured, voided] = await Promise.all([
        gateway.capture({ idempotencyKey: `cap_${id}`, chargeIdempotencyKey: chargeKey(id), paymentRef: pi }),
        gateway.void({ idempotencyKey: voidKey(id), chargeIdempotencyKey: chargeKey(id), paymentRef: pi }),
      ]);
      expect([captured, voided].filter((r) => r !== null)).toEqual([{ ref: pi }]);
      expect(
        stripe.captures.filter((c) => c === pi).length + stripe.cancels.filter((c) => c === pi).length,
      ).toBe(1);
    }
  });

  test('a declined authorization: nothing to capture or void', async () => {
    const id = order();
    expect(await gateway.authorize(charge(id, 'tok_chargeDeclined'))).toEqual({
      outcome: 'declined',
      code: 'card_declined',
    });
    const op = { idempotencyKey: voidKey(id), chargeIdempotencyKey: chargeKey(id) };
    expect(await gateway.void(op)).toBeNull();
    expect(await gateway.capture(op)).toBeNull();
    expect(await gateway.transactions(chargeKey(id))).toEqual([]);
  });

  test('refunds by amount, each key once, never past what was captured', async () => {
    const id = order();
    const paid = await gateway.charge(charge(id, 'tok_visa', 3000));
    const ref = paid.outcome === 'succeeded' ? paid.ref : '';
    const refund = (key: string, amountCents?: number) =>
      gateway.refund({
        idempotencyKey: key,
        chargeIdempotencyKey: chargeKey(id),
        paymentRef: ref,
        ...(amountCents ? { amountCents } : {}),
      });
    const first = await refund('rfd_a', 1000);
    expect(first?.ref).toMatch(/^re_/);
    expect(await refund('rfd_a', 1000)).toEqual(first);
    expect(await refund('rfd_b', 2500)).toBeNull();
    expect(await refund('rfd_c')).not.toBeNull();
    expect(await refund('rfd_d', 1)).toBeNull();
    expect(stripe.refundsOf(ref).map((r) => r.amount)).toEqual([1000, 2000]);
    expect(stripe.refundsOf(ref)[0]?.metadata).toEqual({ order_id: id, orderflow_refund_key: 'rfd_a' });
    expect((await gateway.transactions(chargeKey(id), ref)).map((t) => [t.type, t.amountCents])).toEqual([
      ['charge', 3000],
      ['refund', 1000],
      ['refund', 2000],
    ]);
  });

  test('a refund of a payment that never happened is null', async () => {
    expect(
      await gateway.refund({ idempotencyKey: 'rfd_x', chargeIdempotencyKey: chargeKey(order()) }),
    ).toBeNull();
  });
});

test('testMode follows the key: sk_test_ yes, sk_live_ no', () => {
  expect(gateway.testMode).toBe(true);
  expect(new StripeGateway({ secretKey: 'sk_live_abc', apiUrl: stripe.url, timeoutMs: 1000 }).testMode).toBe(
    false,
  );
});
