import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { chargeKey, refundIdKey } from '../domain/payments/gateway';
import { TEST_WEBHOOK_SECRET } from './support/gateways';
import { expectProblem } from './support/problems';
import { stripeSuite } from './support/stripe-suite';
import { eventually } from './support/workers';

// Saga tests wait for workers on a shared 2-core machine.
setDefaultTimeout(60_000);

// POST /webhooks/stripe: events built as Stripe builds them and signed with the SDK's own test helper.
const ctx = stripeSuite({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });

/** An order taken to `status` (`paid`: only reserve and charge run), and its PaymentIntent. */
async function paidOrder(status: 'completed' | 'paid' = 'completed') {
  await ctx.startWorkers(status === 'paid' ? { queues: ['reserve', 'charge'] } : {});
  const product = await ctx.s.product(10, 2000);
  const res = await ctx.s.place(ctx.user.token, product, 1, 'tok_visa');
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await eventually(
    () => ctx.s.order(id),
    (o) => o.status === status,
  );
  await ctx.stopWorkers();
  const [pi] = ctx.stripe.intentsOf(id);
  if (!pi) throw new Error('no PaymentIntent');
  return { id, product, pi };
}

async function post(body: string, signature?: string) {
  return ctx.h.app.request('/webhooks/stripe', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature ? { 'stripe-signature': signature } : {}) },
    body,
  });
}

async function deliver(event: Record<string, unknown>) {
  const { body, signature } = await ctx.stripe.signed(event, TEST_WEBHOOK_SECRET);
  return post(body, signature);
}

const applied = async () => {
  const [rows] = await ctx.h.pool.query('SELECT COUNT(*) AS n FROM stripe_events');
  return Number((rows as { n: number }[])[0]?.n);
};

const failedSignals = (userId: string) => ctx.h.redis.zcard(`${ctx.h.prefix}:risk:{${userId}}:failed`);

describe('the signature', () => {
  test('bad, stale, missing or from another secret: 400 problem, nothing changed', async () => {
    const { id, pi } = await paidOrder();
    const event = ctx.stripe.event('charge.dispute.created', ctx.stripe.disputeObject(pi.id));
    const good = await ctx.stripe.signed(event, TEST_WEBHOOK_SECRET);
    const before = await applied();

    const otherSecret = await ctx.stripe.signed(event, 'whsec_someone_else');
    const stale = await ctx.stripe.signed(event, TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 600);
    const cases: [string, Response][] = [
      ['another secret', await post(otherSecret.body, otherSecret.signature)],
      ['stale (10 minutes old)', await post(stale.body, stale.signature)],
      ['tampered body', await post(good.body.replace('fraudulent', 'general'), good.signature)],
      ['garbage header', await post(good.body, 't=1,v1=abc')],
      ['no header', await post(good.body)],
    ];
    for (const [name, res] of cases) {
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      await expectProblem(res, 400);
    }
    expect(await applied()).toBe(before);
    expect((await ctx.s.order(id)).disputed).toBeUndefined();
    expect(await failedSignals(ctx.user.id)).toBe(0);
  });
});

describe('charge.dispute.created', () => {
  test('marks the order disputed, counts for the user, and is applied once however often it arrives', async () => {
    const { id, pi } = await paidOrder();
    // A completed order's view is cached: the flag must still show.
    expect((await ctx.s.order(id)).disputed).toBeUndefined();
    const event = ctx.stripe.event('charge.dispute.created', ctx.stripe.disputeObject(pi.id));
    const first = await deliver(event);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true, result: 'applied' });
    const again = await Promise.all([deliver(event), deliver(event)]);
    expect(await Promise.all(again.map((r) => r.json()))).toEqual([
      { received: true, result: 'duplicate' },
      { received: true, result: 'duplicate' },
    ]);
    const order = await ctx.s.order(id);
    expect(order.disputed).toBe(true);
    expect(order.status).toBe('completed');
    expect((await ctx.s.order(id, ctx.user.token)).disputed).toBe(true);
    expect(await failedSignals(ctx.user.id)).toBe(1);
  });
});

describe('payment_intent.payment_failed after the fact', () => {
  const failedIntent = (pi: { id: string } & Record<string, unknown>) => ({
    ...pi,
    status: 'requires_payment_method',
    last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
  });

  test('an order not yet completed (paid) ends failed, its stock back, its payment failed', async () => {
    const { id, product, pi } = await paidOrder('paid');
    expect(await ctx.s.stock(product)).toEqual({ available: 9, reserved: 1 });
    const res = await deliver(ctx.stripe.event('payment_intent.payment_failed', failedIntent({ ...pi })));
    expect(await res.json()).toEqual({ received: true, result: 'applied' });
    const order = await ctx.s.order(id);
    expect(order.status).toBe('failed');
    expect(order.failureReason).toBe('payment_failed_after_charge');
    expect(await ctx.s.stock(product)).toEqual({ available: 10, reserved: 0 });
    expect(await ctx.s.payment(id)).toMatchObject({ status: 'failed', failureCode: 'insufficient_funds' });
  });

  test('a completed order keeps its status; the payment is recorded failed', async () => {
    const { id, pi } = await paidOrder();
    const res = await deliver(ctx.stripe.event('payment_intent.payment_failed', failedIntent({ ...pi })));
    expect(await res.json()).toEqual({ received: true, result: 'applied' });
    expect((await ctx.s.order(id)).status).toBe('completed');
    expect(await ctx.s.payment(id)).toMatchObject({ status: 'failed', failureCode: 'insufficient_funds' });
  });
});

describe('charge.refunded', () => {
  const money = async (orderId: string) => {
    const [rows] = await ctx.h.pool.query(
      'SELECT o.refunded_cents AS refunded, p.status FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = ?',
      [orderId],
    );
    const [row] = rows as { refunded: number; status: string }[];
    return { refunded: Number(row?.refunded), payment: row?.status };
  };
  const refundRows = async (orderId: string) => {
    const [rows] = await ctx.h.pool.query(
      'SELECT amount_cents AS amount, gateway_ref AS ref, status FROM refunds WHERE order_id = ? ORDER BY created_at, id',
      [orderId],
    );
    return (rows as { amount: number; ref: string; status: string }[]).map((r) => ({
      ...r,
      amount: Number(r.amount),
    }));
  };
  /** The event as newer API versions send it: the charge without its refunds (the app asks Stripe). */
  const withoutRefundList = (charge: Record<string, unknown>) => {
    const { refunds: _refunds, ...rest } = charge;
    return rest;
  };

  test("a refund made in Stripe's dashboard joins the order's refunds once, however often and in however many events it comes", async () => {
    const { id, pi } = await paidOrder();
    const dashboard = ctx.stripe.refundInDashboard(pi.id, 500);
    const event = ctx.stripe.event('charge.refunded', ctx.stripe.chargeObject(pi.id));
    expect(await (await deliver(event)).json()).toEqual({ received: true, result: 'applied' });
    expect(await (await deliver(event)).json()).toEqual({ received: true, result: 'duplicate' });
    // Another event (a later refund's) lists the first again: still counted once.
    const later = ctx.stripe.event('charge.refunded', withoutRefundList(ctx.stripe.chargeObject(pi.id)));
    expect(await (await deliver(later)).json()).toEqual({ received: true, result: 'applied' });
    expect(await refundRows(id)).toEqual([{ amount: 500, ref: dashboard.id, status: 'succeeded' }]);
    expect(await money(id)).toEqual({ refunded: 500, payment: 'partially_refunded' });

    // The rest refunded in the dashboard, told by an event without its refund list: asked of Stripe.
    const rest = ctx.stripe.refundInDashboard(pi.id);
    await deliver(ctx.stripe.event('charge.refunded', withoutRefundList(ctx.stripe.chargeObject(pi.id))));
    expect((await refundRows(id)).map((r) => [r.amount, r.ref])).toEqual([
      [500, dashboard.id],
      [1500, rest.id],
    ]);
    expect(await money(id)).toEqual({ refunded: 2000, payment: 'refunded' });
    expect((await ctx.s.order(id)).status).toBe('completed');
  });

  test('a dashboard refund racing an Orderflow refund: each counted once, never past what Stripe took back', async () => {
    for (const asked of [1500, 2000]) {
      const { id, pi } = await paidOrder();
      ctx.stripe.refundInDashboard(pi.id, 500);
      const hook = ctx.stripe.event('charge.refunded', withoutRefundList(ctx.stripe.chargeObject(pi.id)));
      const [told, ours] = await Promise.all([
        deliver(hook),
        ctx.h.json('POST', `/orders/${id}/refunds`, { amountCents: asked }, ctx.admin.token),
      ]);
      expect(told.status).toBe(200);
      expect([201, 409]).toContain(ours.status);
      // Stripe then tells of our refund too (when it made one): nothing more is counted.
      await deliver(ctx.stripe.event('charge.refunded', withoutRefundList(ctx.stripe.chargeObject(pi.id))));
      const atStripe = ctx.stripe.refundsOf(pi.id).reduce((sum, r) => sum + r.amount, 0);
      expect(atStripe).toBe(asked === 1500 ? 2000 : 500);
      const succeeded = (await refundRows(id)).filter((r) => r.status === 'succeeded');
      expect({
        asked,
        rows: succeeded.reduce((sum, r) => sum + r.amount, 0),
        money: await money(id),
      }).toEqual({
        asked,
        rows: atStripe,
        money: { refunded: atStripe, payment: atStripe === 2000 ? 'refunded' : 'partially_refunded' },
      });
    }
  });

  test("a refund Orderflow made itself is recognised when its webhook comes (even before we recorded Stripe's answer)", async () => {
    const { id, pi } = await paidOrder();
    // Our refund reached Stripe; its answer is not recorded yet (the webhook races our recording).
    const ours = await ctx.h.deps.orders.gateway.refund({
      idempotencyKey: refundIdKey('re_ours_1'),
      chargeIdempotencyKey: chargeKey(id),
      paymentRef: pi.id,
      amountCents: 300,
    });
    expect(ours?.ref).toMatch(/^re_/);
    const dashboard = ctx.stripe.refundInDashboard(pi.id, 200);
    for (const charge of [
      ctx.stripe.chargeObject(pi.id),
      withoutRefundList(ctx.stripe.chargeObject(pi.id)),
    ]) {
      expect((await deliver(ctx.stripe.event('charge.refunded', charge))).status).toBe(200);
    }
    expect((await refundRows(id)).map((r) => r.ref)).toEqual([dashboard.id]);
    expect(await money(id)).toEqual({ refunded: 200, payment: 'partially_refunded' });
    expect(ctx.stripe.refundsOf(pi.id).map((r) => r.amount)).toEqual([300, 200]);
  });
});

test('an event about no order of ours is received and ignored', async () => {
  const res = await deliver(
    ctx.stripe.event('charge.dispute.created', {
      id: 'dp_x',
      object: 'dispute',
      payment_intent: 'pi_unknown',
    }),
  );
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ received: true, result: 'ignored' });
});
