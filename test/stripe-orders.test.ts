import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { chargeKey } from '../domain/payments/gateway';
import { createGateway } from '../wiring/adapters';
import { FaultyGateway } from './support/faults';
import { stripeSuite } from './support/stripe-suite';
import { eventually, finalStatuses } from './support/workers';

// Saga tests wait for workers on a shared 2-core machine.
setDefaultTimeout(60_000);

// Orders end to end with PAYMENT_GATEWAY=stripe: the API and real workers, the adapter through the real
// SDK, the stand-in counting what reached "Stripe".
const ctx = stripeSuite({
  JOB_BACKOFF_MS: '50',
  GATEWAY_TIMEOUT_MS: '400',
  BREAKER_RETRIES: '2',
  BREAKER_HALF_OPEN_MS: '300',
  EMAIL_RATE_MAX: '1000',
});

async function place(token: string, quantity = 1, priceCents = 1500): Promise<string> {
  const product = await ctx.s.product(10, priceCents);
  const res = await ctx.s.place(ctx.user.token, product, quantity, token);
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const settled = (id: string) =>
  eventually(
    () => ctx.s.order(id),
    (o) => finalStatuses.has(o.status),
  );

const created = (id: string) => ctx.stripe.intentsCreated.get(chargeKey(id)) ?? 0;

describe('PAYMENT_GATEWAY=stripe', () => {
  test('an order completes; its payment shows the PaymentIntent id; one PaymentIntent, for its amount', async () => {
    await ctx.startWorkers();
    for (const token of ['tok_visa', 'pm_card_visa']) {
      const id = await place(token, 2, 1250);
      expect((await settled(id)).status).toBe('completed');
      const [pi, ...more] = ctx.stripe.intentsOf(id);
      expect(more).toEqual([]);
      expect(pi).toMatchObject({ amount: 2500, currency: 'eur', status: 'succeeded' });
      expect(created(id)).toBe(1);
      const payment = await ctx.s.payment(id, ctx.user.token);
      expect(payment.status).toBe('succeeded');
      expect(payment.transactions).toMatchObject([{ type: 'charge', gatewayRef: pi?.id, amountCents: 2500 }]);
    }
  });

  test('Stripe away: GET /payment/status answers 503 problem+json with Retry-After, and 200 once it is back', async () => {
    await ctx.startWorkers();
    const id = await place('tok_visa');
    expect((await settled(id)).status).toBe('completed');
    ctx.stripe.fail('503');
    for (let i = 0; i < 3; i++) {
      // Whether the gateway call fails or its breaker is already open: "not now", never a 500.
      const res = await ctx.h.app.request(`/payment/status/${id}`, {
        headers: { authorization: `Bearer ${ctx.user.token}` },
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/unavailable; retry shortly/);
    }
    ctx.stripe.fail('none');
    const back = await eventually(
      () =>
        ctx.h.app.request(`/payment/status/${id}`, {
          headers: { authorization: `Bearer ${ctx.user.token}` },
        }),
      (r) => r.status === 200,
    );
    expect(((await back.json()) as { status: string }).status).toBe('succeeded');
  });

  test('a decline ends the order payment_failed with the same reason as the simulated gateway', async () => {
    await ctx.startWorkers();
    for (const [token, reason] of [
      ['tok_chargeDeclined', 'card_declined'],
      ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
    ] as const) {
      const id = await place(token);
      const order = await settled(id);
      expect({ token, status: order.status, reason: order.failureReason }).toEqual({
        token,
        status: 'payment_failed',
        reason,
      });
      expect(created(id)).toBe(1);
    }
  });

  test('Stripe answering 500, 503, 429: retried with the same key, the order completes, one PaymentIntent', async () => {
    await ctx.startWorkers();
    for (const outage of ['500', '503', '429'] as const) {
      // More failures than one attempt's quick retries: the job itself is retried too.
      ctx.stripe.fail(outage, 4);
      const id = await place('tok_visa');
      expect((await settled(id)).status).toBe('completed');
      expect(created(id)).toBe(1);
      expect(
        ctx.stripe.requests.filter((r) => r.key === chargeKey(id) && r.status === Number(outage)).length,
      ).toBe(4);
    }
  });

  test('an answer lost after Stripe charged (timeout): the retry is replayed, never a second charge', async () => {
    await ctx.startWorkers();
    ctx.stripe.fail('lose-answer', 1);
    const id = await place('tok_visa');
    expect((await settled(id)).status).toBe('completed');
    expect(created(id)).toBe(1);
    const calls = ctx.stripe.requests.filter((r) => r.key === chargeKey(id));
    expect(calls.some((r) => r.replayed)).toBe(true);
  });

  test('a hung request: retries meet its key in flight (409) and wait; once Stripe finishes, one PaymentIntent', async () => {
    await ctx.startWorkers();
    ctx.stripe.fail('hang', 1);
    const id = await place('tok_visa');
    await eventually(
      async () => ctx.stripe.requests.filter((r) => r.key === chargeKey(id) && r.status === 409).length,
      (n) => n > 0,
    );
    expect(created(id)).toBe(0);
    ctx.stripe.releaseHeld();
    expect((await settled(id)).status).toBe('completed');
    expect(created(id)).toBe(1);
  });

  test('a worker crash between the call and the commit: the next attempt gets the first PaymentIntent back', async () => {
    let calls = 0;
    const faulty = new FaultyGateway(createGateway(ctx.h.config, ctx.h.db), () =>
      ++calls === 1 ? 'after' : 'none',
    );
    await ctx.startWorkers({ gateway: faulty });
    const id = await place('tok_visa');
    expect((await settled(id)).status).toBe('completed');
    expect(faulty.calls).toBeGreaterThanOrEqual(2);
    expect(created(id)).toBe(1);
    const [pi] = ctx.stripe.intentsOf(id);
    const payment = await ctx.s.payment(id, ctx.user.token);
    expect(payment.transactions.map((t) => t.gatewayRef)).toEqual([pi?.id ?? '']);
  });

  test('an order held for review holds an authorization: approve captures it once, reject voids it', async () => {
    await ctx.startWorkers();
    const held = async () => {
      const id = await place('tok_riskLevelElevated');
      await eventually(
        () => ctx.s.order(id),
        (o) => o.status === 'review',
      );
      const pi = await eventually(
        async () => ctx.stripe.intentsOf(id)[0],
        (p) => p?.status === 'requires_capture',
      );
      return { id, pi: pi?.id ?? '' };
    };
    const decide = (id: string, decision: 'approve' | 'reject') =>
      ctx.h.json('POST', `/orders/${id}/review`, { decision }, ctx.admin.token);

    const approved = await held();
    expect((await decide(approved.id, 'approve')).status).toBe(200);
    expect((await settled(approved.id)).status).toBe('completed');
    expect(ctx.stripe.captures.filter((c) => c === approved.pi)).toHaveLength(1);
    expect(created(approved.id)).toBe(1);
    expect(
      (await ctx.s.payment(approved.id, ctx.user.token)).transactions.map((t) => [t.type, t.gatewayRef]),
    ).toEqual([
      ['authorization', approved.pi],
      ['capture', approved.pi],
    ]);

    const rejected = await held();
    expect((await decide(rejected.id, 'reject')).status).toBe(200);
    expect((await settled(rejected.id)).status).toBe('rejected');
    await eventually(
      async () => ctx.stripe.cancels.filter((c) => c === rejected.pi).length,
      (n) => n === 1,
    );
    expect(ctx.stripe.captures).not.toContain(rejected.pi);
  });
});
