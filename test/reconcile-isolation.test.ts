import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createLogger } from '../lib/logger';
import { createMetrics } from '../wiring/metrics';
import { buildWorkerDeps } from '../workers/deps';
import { reconcile } from '../workers/reconcile';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers } from './support/workers';

// One order the reconciler cannot end (its customer's phone no longer decrypts: a PII key rotated
// without re-encrypting) must not stop the pass: the orders beside it are still expired, and the
// failure is logged and counted in /metrics.

let h: Harness;
let s: ReturnType<typeof shop>;

beforeAll(async () => {
  h = await createHarness({ MAX_UNPAID_ORDERS: '10' });
  s = shop(h, await h.signUp('admin'));
});
afterAll(async () => {
  await h.cleanup();
});

async function placed(token: string, product: string, payment: string | null, status: string) {
  const res = await s.place(token, product, 1, payment);
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await eventually(
    async () => (await s.order(id)).status,
    (st) => st === status,
    20_000,
  );
  return id;
}

test('one order that cannot be ended does not stop the pass: its neighbours expire, the failure is logged and counted', async () => {
  const p = await s.product(100);
  const w = await startTestWorkers(h, { concurrency: 5 });
  // The bad customer's orders first, so that a pass that stops at them stops before the good ones.
  const bad = await h.signUp('user', '+15550000001');
  const goodUsers = [await h.signUp('user', '+15550000002'), await h.signUp('user', '+15550000003')];
  const badHold = await placed(bad.token, p, null, 'reserved');
  const badReview = await placed(bad.token, p, 'tok_riskLevelElevated', 'review');
  const goodHolds: string[] = [];
  const goodReviews: string[] = [];
  for (const u of goodUsers) {
    goodHolds.push(await placed(u.token, p, null, 'reserved'));
    goodReviews.push(await placed(u.token, p, 'tok_riskLevelElevated', 'review'));
  }
  await w.stop();

  await h.pool.query('UPDATE users SET phone_enc = ? WHERE id = ?', ['not-a-ciphertext', bad.id]);
  // Every hold has run out, every review waited past REVIEW_TTL_SECONDS.
  await h.pool.query(
    "UPDATE orders SET reserved_until = NOW(3) - INTERVAL 1 MINUTE WHERE status = 'reserved'",
  );
  await h.pool.query("UPDATE orders SET updated_at = NOW(3) - INTERVAL 2 DAY WHERE status = 'review'");

  const lines: { level: number; msg?: string; orderId?: string; task?: string }[] = [];
  const logger = createLogger('warn', {}, { write: (l: string) => lines.push(JSON.parse(l)) });
  const metrics = createMetrics({ db: h.db, queues: h.deps.queues.queues });
  const deps = buildWorkerDeps(h.config, { db: h.db, redis: h.redis }, logger, {
    queues: h.deps.queues,
    metrics,
  });

  const report = await reconcile(deps);
  expect(report.expired).toBe(goodHolds.length + goodReviews.length);
  for (const id of goodHolds) expect((await s.order(id)).failureReason).toBe('reservation_expired');
  for (const id of goodReviews) expect((await s.order(id)).failureReason).toBe('review_expired');
  // The bad ones are left as they were, for the next pass (or an operator).
  expect((await s.order(badHold)).status).toBe('reserved');
  expect((await s.order(badReview)).status).toBe('review');

  for (const id of [badHold, badReview]) {
    expect(lines.some((l) => l.orderId === id && l.level >= 50)).toBe(true);
  }
  const text = await metrics.render();
  expect(text).toContain('reconcile_failures_total{task="expire_hold"} 1');
  expect(text).toContain('reconcile_failures_total{task="expire_review"} 1');
}, 60_000);
