import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { CountingTransports } from './support/stand-ins';
import { drained, eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers;

const perPeriod = 2;
const periodMs = 1000;

beforeAll(async () => {
  // Two emails a second: a provider quota below the rate orders complete at.
  h = await createHarness({ EMAIL_RATE_MAX: String(perPeriod), EMAIL_RATE_DURATION_MS: String(periodMs) });
});
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
});

test('orders complete at their own pace while every email is sent, at the provider quota', async () => {
  // The provider stand-in records when each email reached it.
  const transports = new CountingTransports();
  w = await startTestWorkers(h, { concurrency: 5, transports });
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const count = 10;
  const p = await s.product(count);
  const ids: string[] = [];
  for (let i = 0; i < count; i++)
    ids.push(((await (await s.place(user.token, p, 1)).json()) as { id: string }).id);
  for (const id of ids) {
    await eventually(
      () => s.order(id),
      (o) => o.status === 'completed',
      10_000,
    );
  }
  const allCompletedAt = Date.now();

  // Every customer gets their email, once…
  const sent = await eventually(
    async () => transports.sent.filter((m) => m.channel === 'email'),
    (m) => m.length >= count,
    30_000,
  );
  // Nothing left that could send again: every job drained.
  await drained(h.deps.queues);
  expect(ids.map((id) => transports.of(id, 'email').length)).toEqual(ids.map(() => 1));
  expect(transports.sent.filter((m) => m.channel === 'email')).toHaveLength(count);

  // …at no more than the quota: `perPeriod + 1` sends never fit in much less than a period, and ten
  // emails take about four periods. The limiter counts in Redis when a job is taken, we when the
  // send starts (after some database work of varying length on a loaded machine): half a period of
  // slack. Without the limiter all ten go out within a few milliseconds.
  const at = sent.map((m) => m.at).sort((a, b) => a - b);
  const gap = (i: number, j: number) => (at[i] ?? 0) - (at[j] ?? 0);
  const slack = periodMs * 0.5;
  for (let i = perPeriod; i < at.length; i++) expect(gap(i, i - perPeriod)).toBeGreaterThan(periodMs - slack);
  expect(gap(at.length - 1, 0)).toBeGreaterThan((count / perPeriod - 1) * periodMs - slack);
  // The orders did not wait for the quota: all were completed before the last email went out.
  expect(allCompletedAt).toBeLessThan(at.at(-1) ?? 0);
}, 60_000);
