import { afterEach, expect, setDefaultTimeout, test } from 'bun:test';
import { type GatewaySetup, gatewaySetup } from './support/gateways';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, finalStatuses, startTestWorkers, type TestWorkers } from './support/workers';

// Saga tests wait for workers on a shared 2-core machine.
setDefaultTimeout(60_000);

const opened: { g: GatewaySetup; h: Harness; w: TestWorkers }[] = [];
afterEach(async () => {
  for (const { g, h, w } of opened.splice(0)) {
    await w.stop();
    await h.cleanup();
    await g.stop();
  }
}, 60_000);

/** A shop whose gateway is Stripe (the stand-in) with this secret key, workers running. */
async function stripeShop(secretKey: string) {
  const g = gatewaySetup('stripe', secretKey);
  const h = await createHarness({ ...g.env, JOB_BACKOFF_MS: '50' });
  const w = await startTestWorkers(h);
  opened.push({ g, h, w });
  const s = shop(h, await h.signUp('admin'));
  const user = await h.signUp('user');
  const place = async (token: string) => {
    const res = await s.place(user.token, await s.product(5), 1, token);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  return { s, place, stripe: g.stripe };
}

test('with a test key (sk_test_) the screening test token forces review', async () => {
  const { s, place } = await stripeShop('sk_test_modes_0123456789');
  const id = await place('tok_riskLevelElevated');
  const order = await eventually(
    () => s.order(id),
    (o) => o.status === 'review' || finalStatuses.has(o.status),
  );
  expect(order.status).toBe('review');
});

test('with a live key (sk_live_) the test token steers nothing: screened by score, then Stripe refuses it', async () => {
  const { s, place, stripe } = await stripeShop('sk_live_modes_0123456789');
  const id = await place('tok_riskLevelElevated');
  const order = await eventually(
    () => s.order(id),
    (o) => o.status === 'review' || finalStatuses.has(o.status),
  );
  // Not held for review by the token; Stripe in live mode knows no test token: a decline.
  expect(order.status).toBe('payment_failed');
  expect(order.failureReason).toBe('invalid_token');
  expect(stripe?.intentsOf(id)).toEqual([]);
  expect(stripe?.requests.filter((r) => r.path === '/v1/payment_intents' && r.status === 400)).toHaveLength(
    1,
  );
});

test('the process refuses to start with PAYMENT_GATEWAY=stripe and no key, naming the variable', async () => {
  for (const [missing, env] of [
    ['STRIPE_SECRET_KEY', { STRIPE_WEBHOOK_SECRET: 'whsec_x' }],
    ['STRIPE_WEBHOOK_SECRET', { STRIPE_SECRET_KEY: 'sk_test_x' }],
  ] as const) {
    const proc = Bun.spawn([process.execPath, 'run', 'api/start/server.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        NODE_ENV: 'test',
        PORT: '0',
        DATABASE_URL: 'mysql://root@127.0.0.1:3306/oftest_never_created',
        PAYMENT_GATEWAY: 'stripe',
        ...env,
      },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const code = await proc.exited;
    const output = (await new Response(proc.stderr).text()) + (await new Response(proc.stdout).text());
    expect({ missing, code: code !== 0 }).toEqual({ missing, code: true });
    expect(output).toContain(`${missing}: required when PAYMENT_GATEWAY=stripe`);
  }
});
