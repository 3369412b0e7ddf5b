import { afterAll, beforeAll, expect, test } from 'bun:test';
import { isGatewayOutage, ResilientGateway } from '../domain/payments/resilient-gateway';
import { SimulatedGateway } from '../domain/payments/simulated-gateway';
import type { CircuitStateName } from '../domain/resilience';
import { breaker } from '../wiring/adapters';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

let h: Harness;
let w: TestWorkers;

beforeAll(async () => {
  h = await createHarness({
    JOB_ATTEMPTS: '3',
    JOB_BACKOFF_MS: '50',
    EMAIL_RATE_MAX: '1000',
    BREAKER_FAILURE_RATE: '0.5',
    BREAKER_WINDOW_MS: '2000',
    BREAKER_MIN_RPS: '0.001',
    BREAKER_HALF_OPEN_MS: '300',
    BREAKER_RETRIES: '0',
  });
});
afterAll(async () => {
  await w?.stop();
  await h.cleanup();
});

test('with the gateway failing every call the breaker opens, orders wait, and complete once it recovers', async () => {
  // The real simulated gateway, told to fail every call, behind the real breaker.
  const simulated = new SimulatedGateway(h.db, { latencyMs: 0, failureRate: 1 });
  const states: CircuitStateName[] = [];
  const gateway = new ResilientGateway(
    simulated,
    breaker(h.config, 'payment_gateway', isGatewayOutage, (_name, state) => states.push(state)),
  );
  w = await startTestWorkers(h, { gateway, concurrency: 5 });
  const admin = await h.signUp('admin');
  const user = await h.signUp('user');
  const s = shop(h, admin);
  const p = await s.product(10);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++)
    ids.push(((await (await s.place(user.token, p, 1)).json()) as { id: string }).id);

  await eventually(
    async () => states,
    (st) => st.includes('open'),
  );
  // Each charge job is run more often than it has attempts (JOB_ATTEMPTS 3): without the breaker
  // the third failure would have ended the order; with it, a refused run spends no attempt.
  const charges = await eventually(
    () => Promise.all(ids.map((id) => h.deps.queues.queues.charge.getJob(`${id}-charge`))),
    (jobs) => jobs.every((job) => (job?.attemptsStarted ?? 0) > 3),
    30_000,
    'every charge job run more than three times',
  );
  for (const job of charges) expect(job?.attemptsMade ?? 99).toBeLessThan(3);
  for (const id of ids) expect((await s.order(id)).status).toBe('reserved');

  simulated.options.failureRate = 0;
  for (const id of ids) {
    await eventually(
      () => s.order(id),
      (o) => o.status === 'completed',
      20_000,
    );
  }
  expect(states).toContain('half_open');
  expect(states.at(-1)).toBe('closed');
  expect(await s.stock(p)).toEqual({ available: 5, reserved: 0 });
}, 60_000);
