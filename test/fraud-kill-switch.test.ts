import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { expectJson } from './support/problems';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

/**
 * FRAUD_SCREENING=off, the operator's kill switch: an order that screening would reject
 * (tok_riskLevelHighest forces a rejection whatever the score) is charged and completed, and no
 * verdict is stored on it.
 */
let h: Harness;
let w: TestWorkers;

beforeAll(async () => {
  h = await createHarness({ FRAUD_SCREENING: 'off', RISK_REVIEW_AT: '0.6', RISK_REJECT_AT: '0.9' });
  w = await startTestWorkers(h);
}, 60_000);
afterAll(async () => {
  await w.stop();
  await h.cleanup();
}, 60_000);

test('screening off: an order the screening would reject is charged and completed, with no verdict', async () => {
  const admin = await h.signUp('admin');
  const s = shop(h, admin);
  const user = await h.signUp('user');
  const p = await s.product(10);
  const { id } = (await expectJson<{ id: string }>(
    await s.place(user.token, p, 2, 'tok_riskLevelHighest'),
    202,
  )) as { id: string };
  const done = (await eventually(
    () => s.order(id),
    (o) =>
      (o as { status: string }).status === 'completed' || (o as { status: string }).status === 'rejected',
  )) as { status: string; risk?: unknown };
  expect(done.status).toBe('completed');
  expect(done.risk ?? null).toBeNull();
  expect(await s.stock(p)).toEqual({ available: 8, reserved: 0 });
}, 60_000);
