import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { loadCommittedModel } from '../domain/fraud/model';
import { queueNames } from '../queues/contract';
import { createGateway } from '../wiring/adapters';
import { reconcile } from '../workers/reconcile';
import { createHarness, type Harness } from './support/harness';
import { expectJson, expectProblem } from './support/problems';
import { type OrderBody, shop } from './support/shop';
import { CountingGateway } from './support/stand-ins';
import { drained, eventually, startTestWorkers, type TestWorkers } from './support/workers';

type RiskOrder = OrderBody & {
  risk?: { score: number; decision: string; reasons: string[]; model: string };
};

let h: Harness;
let w: TestWorkers;
let gateway: CountingGateway;
let admin: { id: string; token: string };
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  // The configured thresholds (RISK_REVIEW_AT 0.6, RISK_REJECT_AT 0.9), not the harness's "off".
  h = await createHarness({
    RISK_REVIEW_AT: '0.6',
    RISK_REJECT_AT: '0.9',
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
    // Two tests scrape /metrics: each counts the review queue afresh (no count reused between them).
    METRICS_ORDERS_CACHE_SECONDS: '0',
  });
  gateway = new CountingGateway(createGateway(h.config, h.db));
  // The API's calls (a cancel's or a rejection's void) are counted as well as the workers'.
  h.deps.orders.gateway = gateway;
  w = await startTestWorkers(h, { gateway, metrics: h.deps.metrics });
  admin = await h.signUp('admin');
  s = shop(h, admin);
}, 60_000);
afterAll(async () => {
  await w.stop();
  await h.cleanup();
}, 60_000);

const order = (id: string) => s.order(id) as Promise<RiskOrder>;
const reaches = (id: string, status: string) =>
  eventually(
    () => order(id),
    (o) => o.status === status,
  ) as Promise<RiskOrder>;
const place = async (token: string, productId: string, qty: number, payment: string | null) =>
  ((await expectJson<{ id: string }>(await s.place(token, productId, qty, payment), 202)) as { id: string })
    .id;

/** No job of any queue waits for children: no flow hangs while an order waits for a human. */
async function nothingWaitingForChildren() {
  const counts = await eventually(
    () => Promise.all(queueNames.map((q) => h.deps.queues.queues[q].getWaitingChildrenCount())),
    (c) => c.every((n) => n === 0),
    10_000,
  );
  expect(counts.every((n) => n === 0)).toBe(true);
}

/** The customer heard of the outcome: the message for it was recorded and sent. */
const told = (id: string, outcome: string) =>
  eventually(
    () => s.notificationsOf(id),
    (n) => n.some((x) => x.dedupeKey === `${id}:${outcome}:email` && x.status === 'sent'),
  );

const review = (id: string, decision: unknown, token = admin.token) =>
  h.json('POST', `/orders/${id}/review`, { decision }, token);

describe('screening in the flow', () => {
  test('approve: an ordinary first order is scored, charged once and completed', async () => {
    const user = await h.signUp('user');
    const p = await s.product(10);
    const id = await place(user.token, p, 2, 'tok_visa');
    const done = await reaches(id, 'completed');
    expect(done.risk).toEqual({
      score: expect.any(Number),
      decision: 'approve',
      reasons: expect.any(Array),
      model: loadCommittedModel().id,
    });
    expect(done.risk?.score).toBeLessThan(0.6);
    expect(done.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'paid', 'completed']);
    expect(gateway.chargeCalls(id)).toBe(1);
    expect(await s.stock(p)).toEqual({ available: 8, reserved: 0 });
    // The owner sees the verdict on their order too.
    expect((await s.order(id, user.token)) as RiskOrder).toMatchObject({ risk: { decision: 'approve' } });
  }, 60_000);

  test('reject (tok_riskLevelHighest): rejected as fraud_suspected, stock back, never charged, customer told', async () => {
    const user = await h.signUp('user');
    const p = await s.product(10);
    const id = await place(user.token, p, 3, 'tok_riskLevelHighest');
    const o = await reaches(id, 'rejected');
    expect(o.failureReason).toBe('fraud_suspected');
    expect(o.risk?.decision).toBe('reject');
    expect(o.risk?.reasons[0]).toBe('test_token_highest');
    expect(o.events.map((e) => e.to)).toEqual(['pending', 'reserved', 'rejected']);
    expect(await s.stock(p)).toEqual({ available: 10, reserved: 0 });
    await told(id, 'rejected');
    expect(gateway.chargeCalls(id)).toBe(0);
    expect((await s.payment(id)).transactions).toEqual([]);
    await nothingWaitingForChildren();
  }, 60_000);

  test('decisions by score: a burst of orders on ever new cards goes from approve to review to reject', async () => {
    const user = await h.signUp('user');
    const p = await s.product(50, 1200);
    const seen: RiskOrder[] = [];
    // Card testing: each order on a new card, one after the other, within a minute.
    for (let i = 1; i <= 8 && !seen.some((o) => o.status === 'rejected'); i++) {
      const id = await place(user.token, p, 1, `tok_cardtest${i}`);
      seen.push(
        (await eventually(
          () => order(id),
          (o) => ['completed', 'review', 'rejected'].includes(o.status),
        )) as RiskOrder,
      );
    }
    const decisions = seen.map((o) => o.risk?.decision);
    expect(decisions[0]).toBe('approve');
    expect(decisions).toContain('review');
    expect(decisions.at(-1)).toBe('reject');
    const scores = seen.map((o) => o.risk?.score ?? 0);
    // More orders on more cards never look safer.
    for (let i = 1; i < scores.length; i++) expect(scores[i] ?? 0).toBeGreaterThanOrEqual(scores[i - 1] ?? 0);
    const rejected = seen.at(-1) as RiskOrder;
    expect(rejected.risk?.score).toBeGreaterThanOrEqual(0.9);
    expect(rejected.risk?.reasons).toContain('many_payment_tokens');
    expect(rejected.risk?.reasons).toContain('velocity_10m');
    expect(rejected.failureReason).toBe('fraud_suspected');
    for (const o of seen) expect(gateway.chargeCalls(o.id)).toBe(o.status === 'completed' ? 1 : 0);
    // Every order still in review holds its unit; the rest are sold or back on the shelf.
    const held = seen.filter((o) => o.status === 'review').length;
    const sold = seen.filter((o) => o.status === 'completed').length;
    expect(await s.stock(p)).toEqual({ available: 50 - held - sold, reserved: held });
  }, 60_000);
});

test("a declined payment feeds its owner's failed-payments counter", async () => {
  const user = await h.signUp('user');
  const p = await s.product(5);
  const id = await place(user.token, p, 1, 'tok_chargeDeclined');
  await reaches(id, 'payment_failed');
  const key = `${h.prefix}:risk:{${user.id}}:failed`;
  expect(
    await eventually(
      () => h.redis.zrange(key, '0', '-1'),
      (m) => m.length === 1,
    ),
  ).toEqual([id]);
}, 60_000);

describe('the review queue', () => {
  async function inReview(qty = 2) {
    const user = await h.signUp('user');
    const p = await s.product(10);
    const id = await place(user.token, p, qty, 'tok_riskLevelElevated');
    const o = await reaches(id, 'review');
    expect(o.risk?.decision).toBe('review');
    expect(o.risk?.reasons[0]).toBe('test_token_elevated');
    // Parked, not hanging: the charge job completed with the review as its result, its parent too.
    // (The order is in review as soon as the step's transaction commits; the job completes just after.)
    await eventually(
      () => h.deps.queues.queues.charge.getJobState(`${id}-charge`),
      (state) => state === 'completed',
      10_000,
    );
    const charge = await h.deps.queues.queues.charge.getJob(`${id}-charge`);
    expect(charge?.returnvalue).toMatchObject({ status: 'review' });
    // …and its parent notify saw a parked order and completed doing nothing, without retrying.
    const notifyJob = `${id}-notify`;
    await eventually(
      () => h.deps.queues.queues.notify.getJobState(notifyJob),
      (state) => state === 'completed',
      10_000,
    );
    const notify = await h.deps.queues.queues.notify.getJob(notifyJob);
    expect(notify?.returnvalue).toEqual({ status: 'review', changed: false });
    expect(notify?.attemptsMade).toBe(1);
    await nothingWaitingForChildren();
    expect(await s.stock(p)).toEqual({ available: 10 - qty, reserved: qty });
    // Its money is set aside, not taken: one authorization, no charge.
    const payment = await eventually(
      () => s.payment(id),
      (pay) => pay.status === 'authorized',
    );
    expect(payment).toMatchObject({ capturedCents: 0, refundedCents: 0 });
    expect(payment.transactions.map((t) => t.type)).toEqual(['authorization']);
    expect(gateway.authorizeCalls(id)).toBe(1);
    expect(gateway.chargeCalls(id)).toBe(0);
    return { user, p, id };
  }

  test('approve: the authorization is captured once (no charge), then notify completes it', async () => {
    const { user, p, id } = await inReview(2);
    const res = await review(id, 'approve');
    const body = await expectJson<RiskOrder>(res, 200);
    expect(body.id).toBe(id);
    expect(body.risk?.decision).toBe('approve');
    const done = await reaches(id, 'completed');
    expect(done.events.map((e) => e.to)).toEqual([
      'pending',
      'reserved',
      'review',
      'reserved',
      'paid',
      'completed',
    ]);
    expect(gateway.chargeCalls(id)).toBe(0);
    expect(gateway.authorizeCalls(id)).toBe(1);
    expect(gateway.captureCalls(id)).toBe(1);
    expect(gateway.voidCalls(id)).toBe(0);
    const payment = await s.payment(id);
    expect(payment).toMatchObject({ status: 'succeeded', capturedCents: payment.amountCents });
    expect(payment.transactions.map((t) => t.type)).toEqual(['authorization', 'capture']);
    expect(await s.stock(p)).toEqual({ available: 8, reserved: 0 });
    await told(id, 'completed');
    // The tail after the review ran under ids of its own (the first charge/notify jobs are still kept).
    await eventually(
      () => h.deps.queues.queues.notify.getJobState(`${id}-notify-approved`),
      (state) => state === 'completed',
      10_000,
    );
    expect(await h.deps.queues.queues.notify.getJobState(`${id}-notify`)).toBe('completed');
    await nothingWaitingForChildren();
    // Decided once: a second decision is a conflict, and so is the owner's cancel of a completed order.
    await expectProblem(await review(id, 'reject'), 409);
    await expectProblem(await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token), 409);
  }, 60_000);

  test('reject: rejected as fraud_suspected, stock back, authorization voided once, never captured, customer told', async () => {
    const { p, id } = await inReview(3);
    const body = await expectJson<RiskOrder>(await review(id, 'reject'), 200);
    expect(body).toMatchObject({
      status: 'rejected',
      failureReason: 'fraud_suspected',
      risk: { decision: 'reject' },
    });
    expect(await s.stock(p)).toEqual({ available: 10, reserved: 0 });
    await told(id, 'rejected');
    // Nothing is left that could still charge it: every job drained, the order final.
    await drained(h.deps.queues, async () => (await order(id)).status === 'rejected');
    await nothingWaitingForChildren();
    expect(gateway.chargeCalls(id)).toBe(0);
    expect(gateway.captureCalls(id)).toBe(0);
    expect(gateway.voidCalls(id)).toBe(1);
    const payment = await s.payment(id);
    expect(payment).toMatchObject({ status: 'voided', capturedCents: 0 });
    expect(payment.transactions.map((t) => t.type)).toEqual(['authorization', 'void']);
  }, 60_000);

  test('no decision within REVIEW_TTL_SECONDS: the reconciler cancels it (review_expired), stock back', async () => {
    const { p, id } = await inReview(4);
    const ttl = 60;
    // The reconciler as the maintenance worker runs it; the order's clock is moved back instead of the
    // test waiting, so both sides of the window are checked however slow the machine is.
    const impatient = { ...w.deps, config: { ...w.deps.config, REVIEW_TTL_SECONDS: ttl } };
    const parkedFor = (seconds: number) =>
      h.pool.query('UPDATE orders SET updated_at = NOW(3) - INTERVAL ? SECOND WHERE id = ?', [seconds, id]);
    await parkedFor(ttl - 5);
    await reconcile(impatient);
    // Not before its time.
    expect((await order(id)).status).toBe('review');
    await parkedFor(ttl + 5);
    expect((await reconcile(impatient)).expired).toBeGreaterThanOrEqual(1);
    const o = await order(id);
    expect(o.status).toBe('cancelled');
    expect(o.failureReason).toBe('review_expired');
    expect(await s.stock(p)).toEqual({ available: 10, reserved: 0 });
    await told(id, 'cancelled');
    expect(gateway.chargeCalls(id)).toBe(0);
    expect(gateway.captureCalls(id)).toBe(0);
    expect(gateway.voidCalls(id)).toBe(1);
    expect((await s.payment(id)).status).toBe('voided');
    await expectProblem(await review(id, 'approve'), 409);
    await nothingWaitingForChildren();
  }, 60_000);

  test('metrics: review outcomes are counted by decision (approve, reject, expired)', async () => {
    const reviews = async () => {
      const text = await (await h.app.request('/metrics')).text();
      // A decision never counted yet has no series: that is 0, not "anything".
      const of = (d: string) =>
        Number(text.match(new RegExp(`^fraud_reviews_total\\{decision="${d}"\\} (\\d+)`, 'm'))?.[1] ?? 0);
      return { approve: of('approve'), reject: of('reject'), expired: of('expired') };
    };
    const before = await reviews();
    const [a, b, c] = [await inReview(1), await inReview(1), await inReview(1)];
    expect((await review(a.id, 'approve')).status).toBe(200);
    expect((await review(b.id, 'reject')).status).toBe(200);
    // A decision that comes too late (409) is not an outcome.
    expect((await review(b.id, 'approve')).status).toBe(409);
    // c has waited past the review window (its clock moved back rather than the test waiting).
    await h.pool.query('UPDATE orders SET updated_at = NOW(3) - INTERVAL 1 HOUR WHERE id = ?', [c.id]);
    const impatient = { ...w.deps, config: { ...w.deps.config, REVIEW_TTL_SECONDS: 60 } };
    await reconcile(impatient);
    expect((await order(c.id)).failureReason).toBe('review_expired');
    const after = await reviews();
    expect({
      approve: after.approve - before.approve,
      reject: after.reject - before.reject,
      expired: after.expired - before.expired,
    }).toEqual({ approve: 1, reject: 1, expired: 1 });
  }, 60_000);

  test('the owner may cancel an order in review; its authorization is voided once, nothing captured', async () => {
    const { user, p, id } = await inReview(1);
    const body = await expectJson<RiskOrder>(
      await h.json('PUT', `/orders/${id}/cancel`, undefined, user.token),
      200,
    );
    expect(body.status).toBe('cancelled');
    expect(await s.stock(p)).toEqual({ available: 10, reserved: 0 });
    await expectProblem(await review(id, 'approve'), 409);
    expect(gateway.chargeCalls(id)).toBe(0);
    expect(gateway.captureCalls(id)).toBe(0);
    expect(gateway.voidCalls(id)).toBe(1);
    expect((await s.payment(id)).transactions.map((t) => t.type)).toEqual(['authorization', 'void']);
    await told(id, 'cancelled');
  }, 60_000);

  test('only an admin decides: the owner and other users get 403, and nothing changes', async () => {
    const { user, p, id } = await inReview(2);
    const stranger = await h.signUp('user');
    for (const token of [user.token, stranger.token]) {
      await expectProblem(await review(id, 'approve', token), 403);
      await expectProblem(await review(id, 'reject', token), 403);
    }
    await expectProblem(await h.json('POST', `/orders/${id}/review`, { decision: 'approve' }), 401);
    expect((await order(id)).status).toBe('review');
    expect(await s.stock(p)).toEqual({ available: 8, reserved: 2 });
  }, 60_000);

  test('bad input is a 400 problem naming the field, and changes nothing', async () => {
    const { id } = await inReview(1);
    for (const body of [{ decision: 'maybe' }, {}, { decision: 'approve', note: 'x' }, { decision: 1 }]) {
      const res = await h.json('POST', `/orders/${id}/review`, body, admin.token);
      const problem = await expectProblem(res, 400);
      expect(problem.errors?.length).toBeGreaterThan(0);
    }
    await expectProblem(await review(id, 'maybe'), 400, ['decision']);
    await expectProblem(
      await h.json('POST', '/orders/bad%20id/review', { decision: 'approve' }, admin.token),
      400,
      ['id'],
    );
    await expectProblem(await review('ord_doesnotexist', 'approve'), 404);
    expect((await order(id)).status).toBe('review');
  }, 60_000);

  test('GET /orders?status=review: admins page through the queue, newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await inReview(1)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await expectJson<{ data: RiskOrder[]; nextCursor: string | null }>(
        await h.json('GET', `/orders?status=review&limit=2${q}`, undefined, admin.token),
        200,
      );
      expect(page.data.length).toBeLessThanOrEqual(2);
      for (const o of page.data) {
        expect(o.status).toBe('review');
        expect(o.risk?.decision).toBe('review');
      }
      seen.push(...page.data.map((o) => o.id));
      cursor = page.nextCursor;
    } while (cursor);
    // The three just parked come first, newest first (earlier tests may have left others behind them).
    expect(seen.slice(0, 3)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
    const user = await h.signUp('user');
    await expectProblem(await h.json('GET', '/orders?status=review', undefined, user.token), 403);
    await expectProblem(await h.json('GET', '/orders?status=maybe', undefined, admin.token), 400, ['status']);
    await expectProblem(await h.json('GET', '/orders', undefined, admin.token), 400, ['status']);
    await expectProblem(await h.json('GET', '/orders?status=review&limit=0', undefined, admin.token), 400, [
      'limit',
    ]);
  }, 60_000);
});

describe('pay later: screened at POST /payment', () => {
  test('a review at payment: the charge step authorizes it; approval captures it once', async () => {
    const user = await h.signUp('user');
    const p = await s.product(5);
    const id = await place(user.token, p, 1, null);
    await reaches(id, 'reserved');
    const pay = await h.json('POST', '/payment', { orderId: id, token: 'tok_riskLevelElevated' }, user.token);
    expect(await expectJson(pay, 202)).toEqual({ orderId: id, status: 'pending' });
    // Decided before the charge job was added: the order is parked, and the job only authorizes it (the
    // API does not wait for the gateway).
    expect((await order(id)).status).toBe('review');
    await eventually(
      () => s.payment(id),
      (pay) => pay.status === 'authorized',
    );
    await expectJson(await review(id, 'approve'), 200);
    await reaches(id, 'completed');
    expect(gateway.chargeCalls(id)).toBe(0);
    expect(gateway.authorizeCalls(id)).toBe(1);
    expect(gateway.captureCalls(id)).toBe(1);
    expect(await s.stock(p)).toEqual({ available: 4, reserved: 0 });
    await nothingWaitingForChildren();
  }, 60_000);

  test('a reject at payment ends the order, tells the customer and settles the payment as failed', async () => {
    const user = await h.signUp('user');
    const p = await s.product(5);
    const id = await place(user.token, p, 2, null);
    await reaches(id, 'reserved');
    await expectJson(
      await h.json('POST', '/payment', { orderId: id, token: 'tok_riskLevelHighest' }, user.token),
      202,
    );
    const o = await order(id);
    expect(o).toMatchObject({ status: 'rejected', failureReason: 'fraud_suspected' });
    expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
    await told(id, 'rejected');
    const payment = await s.payment(id);
    expect(payment).toMatchObject({ status: 'failed', transactions: [] });
    expect(gateway.chargeCalls(id)).toBe(0);
    await expectProblem(
      await h.json('POST', '/payment', { orderId: id, token: 'tok_visa' }, user.token),
      409,
    );
  }, 60_000);
});

test("an admin's approval racing the owner's cancel: each order ends once, stock and money add up", async () => {
  const p = await s.product(30, 700);
  const ids: string[] = [];
  const owners = new Map<string, string>();
  // One customer per order: a customer may hold only MAX_UNPAID_ORDERS orders in review.
  for (let i = 0; i < 12; i++) {
    const user = await h.signUp('user');
    const id = await place(user.token, p, 2, 'tok_riskLevelElevated');
    ids.push(id);
    owners.set(id, user.token);
  }
  for (const id of ids) await reaches(id, 'review');
  expect(await s.stock(p)).toEqual({ available: 6, reserved: 24 });
  const cancel = (id: string) => h.json('PUT', `/orders/${id}/cancel`, undefined, owners.get(id));
  // Four ways the two meet, three orders each. Two are sequenced so that each branch provably runs
  // (the cancel wins; the approval wins); one lands the cancel while the capture is at the gateway;
  // one sends both at once and accepts either winner, checked by the same accounting.
  type Way = 'cancel-then-approve' | 'approve-then-cancel' | 'cancel-during-capture' | 'together';
  const ways: Way[] = ['cancel-then-approve', 'approve-then-cancel', 'cancel-during-capture', 'together'];
  const answers = await Promise.all(
    ids.map(async (id, i) => {
      const way = ways[i % 4] as Way;
      if (way === 'cancel-then-approve') {
        const c = (await cancel(id)).status;
        return { id, way, cancel: c, approve: (await review(id, 'approve')).status };
      }
      if (way === 'approve-then-cancel') {
        const a = (await review(id, 'approve')).status;
        await reaches(id, 'completed');
        return { id, way, approve: a, cancel: (await cancel(id)).status };
      }
      if (way === 'cancel-during-capture') {
        const held = gateway.gateCapture(id);
        const approving = review(id, 'approve');
        await held;
        const c = (await cancel(id)).status;
        gateway.releaseCapture(id);
        return { id, way, approve: (await approving).status, cancel: c };
      }
      const [a, c] = await Promise.all([review(id, 'approve'), cancel(id)]);
      return { id, way, approve: a.status, cancel: c.status };
    }),
  );
  const finals = await Promise.all(
    answers.map((a) =>
      eventually(
        () => order(a.id),
        (o) => o.status === 'completed' || o.status === 'cancelled',
        30_000,
      ),
    ),
  );
  let completed = 0;
  for (const [i, a] of answers.entries()) {
    const o = finals[i] as RiskOrder;
    // One of them won: a cancel that lost answers 409 because the order completed; an approval
    // that lost answers 409 because the order was no longer in review.
    expect([a.approve, a.cancel]).toContain(200);
    if (a.way === 'cancel-then-approve')
      expect([o.status, a.cancel, a.approve]).toEqual(['cancelled', 200, 409]);
    if (a.way === 'approve-then-cancel')
      expect([o.status, a.approve, a.cancel]).toEqual(['completed', 200, 409]);
    // Money, counted at the gateway: the authorization is settled exactly once, by a capture that is
    // kept, a void, or a capture then a refund of all of it; never captured twice, never both.
    await eventually(
      async () => ({ voids: gateway.voidCalls(a.id), refunds: gateway.refundCalls(a.id) }),
      (c) => (o.status === 'completed' ? true : c.voids + c.refunds === 1),
    );
    expect(gateway.chargeCalls(a.id)).toBe(0);
    expect(gateway.authorizeCalls(a.id)).toBe(1);
    const calls = [gateway.captureCalls(a.id), gateway.voidCalls(a.id), gateway.refundCalls(a.id)];
    if (o.status === 'completed') {
      completed++;
      expect(a.cancel).toBe(409);
      expect(calls).toEqual([1, 0, 0]);
    } else {
      expect(a.cancel).toBe(200);
      // Voided before any capture; voided while the capture was in flight (the processor refused the
      // capture); or captured, then refunded in full.
      expect([
        [0, 1, 0],
        [1, 1, 0],
        [1, 0, 1],
      ]).toContainEqual(calls);
      if (a.approve === 409) expect(calls).toEqual([0, 1, 0]);
      const pay = await s.payment(a.id);
      expect(pay.refundedCents).toBe(pay.capturedCents);
      if (calls[1] === 1) expect(pay.capturedCents).toBe(0);
    }
  }
  console.log(
    JSON.stringify(
      answers.map((a, i) => [a.way, a.approve, a.cancel, finals[i]?.status, gateway.captureCalls(a.id)]),
    ),
  );
  // Both branches ran (the sequenced ways guarantee it), and stock follows the outcomes.
  expect(completed).toBeGreaterThanOrEqual(3);
  expect(completed).toBeLessThanOrEqual(9);
  expect(await s.stock(p)).toEqual({ available: 30 - 2 * completed, reserved: 0 });
  await nothingWaitingForChildren();
}, 60_000);

test('metrics: decisions by outcome, the score histogram and the review queue', async () => {
  // This test makes every figure it reads: one order of each decision, counted as a change from before.
  const scrape = async () => {
    const text = await (await h.app.request('/metrics')).text();
    // A series never counted yet is absent: that is 0.
    const value = (line: RegExp) => Number(text.match(line)?.[1] ?? 0);
    return {
      review: value(/^fraud_decisions_total\{decision="review"\} (\d+)/m),
      approve: value(/^fraud_decisions_total\{decision="approve"\} (\d+)/m),
      reject: value(/^fraud_decisions_total\{decision="reject"\} (\d+)/m),
      scored: value(/^fraud_score_count (\d+)/m),
      belowReview: value(/^fraud_score_bucket\{le="0\.6"\} (\d+)/m),
      queue: value(/^fraud_review_queue_length (\d+)/m),
      oldest: value(/^fraud_review_queue_oldest_seconds ([\d.e+-]+)/m),
    };
  };
  const before = await scrape();
  const user = await h.signUp('user');
  const p = await s.product(5);
  const approved = await place(user.token, p, 1, 'tok_visa');
  const rejected = await place(user.token, p, 1, 'tok_riskLevelHighest');
  const parked = await place(user.token, p, 1, 'tok_riskLevelElevated');
  await reaches(approved, 'completed');
  await reaches(rejected, 'rejected');
  await reaches(parked, 'review');
  const after = await scrape();
  expect({
    review: after.review - before.review,
    approve: after.approve - before.approve,
    reject: after.reject - before.reject,
    scored: after.scored - before.scored,
  }).toEqual({ review: 1, approve: 1, reject: 1, scored: 3 });
  // The approved order scored below the review threshold, and the histogram has it there.
  expect(after.belowReview - before.belowReview).toBeGreaterThanOrEqual(1);
  const [rows] = await h.pool.query("SELECT COUNT(*) AS n FROM orders WHERE status = 'review'");
  const inReview = Number((rows as { n: number }[])[0]?.n);
  expect(inReview).toBeGreaterThanOrEqual(1);
  expect(after.queue).toBe(inReview);
  expect(after.oldest).toBeGreaterThan(0);
}, 60_000);
