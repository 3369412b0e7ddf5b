import { afterAll, afterEach, beforeAll } from 'bun:test';
import { type GatewaySetup, gatewaySetup } from './gateways';
import { createHarness, type Harness } from './harness';
import { shop } from './shop';
import type { StripeStandIn } from './stripe-stand-in';
import { startTestWorkers, type TestWorkers } from './workers';

type WorkerOptions = NonNullable<Parameters<typeof startTestWorkers>[1]>;

/** What a test file running orders against Stripe's stand-in works with; filled in by its `beforeAll`. */
export interface StripeSuite {
  /** The stand-in: what reached "Stripe", its outage switch, its webhooks. */
  stripe: StripeStandIn;
  h: Harness;
  s: ReturnType<typeof shop>;
  user: { id: string; token: string };
  admin: { token: string };
  /** Starts workers for this test; the suite stops them after it (or earlier, with `stopWorkers`). */
  startWorkers(opts?: WorkerOptions): Promise<TestWorkers>;
  stopWorkers(): Promise<void>;
}

/**
 * The API with PAYMENT_GATEWAY=stripe pointed at a stand-in, an admin and a customer, and the hooks
 * that tear it down: registered once here so the Stripe test files share one set-up. `env` adds to the
 * harness's variables. After each test the stand-in is up again (no outage, held requests let go, so
 * workers waiting on it can stop) and the test's workers are stopped.
 */
export function stripeSuite(env: Record<string, string>): StripeSuite {
  let g: GatewaySetup;
  let workers: TestWorkers | undefined;
  const suite = {
    async startWorkers(opts: WorkerOptions = {}) {
      workers = await startTestWorkers(suite.h, opts);
      return workers;
    },
    async stopWorkers() {
      await workers?.stop();
      workers = undefined;
    },
  } as StripeSuite;

  beforeAll(async () => {
    g = gatewaySetup('stripe');
    suite.stripe = g.stripe as StripeStandIn;
    suite.h = await createHarness({ ...g.env, ...env });
    suite.admin = await suite.h.signUp('admin');
    suite.s = shop(suite.h, suite.admin);
    suite.user = await suite.h.signUp('user');
  }, 60_000);
  afterEach(async () => {
    suite.stripe.fail('none');
    suite.stripe.releaseHeld();
    await suite.stopWorkers();
  }, 60_000);
  afterAll(async () => {
    await suite.h.cleanup();
    await g.stop();
  }, 60_000);
  return suite;
}
