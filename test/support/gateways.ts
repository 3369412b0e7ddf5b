import { StripeStandIn } from './stripe-stand-in';

/** Which payment processor a test runs against: the simulated one, or Stripe's SDK against the stand-in. */
export type GatewayChoice = 'simulated' | 'stripe';
export const gatewayChoices: GatewayChoice[] = ['simulated', 'stripe'];

/** The signing secret the stand-in's webhooks are signed with (the harness's STRIPE_WEBHOOK_SECRET). */
export const TEST_WEBHOOK_SECRET = 'whsec_orderflow_test_0123456789';

export interface GatewaySetup {
  choice: GatewayChoice;
  /** The variables that pick it, for `createHarness(env)`. */
  env: Record<string, string>;
  /** The stand-in, with `stripe` (its counters, its outage switch, its webhooks). */
  stripe?: StripeStandIn;
  stop(): Promise<void>;
}

/**
 * Starts what a gateway choice needs: nothing for `simulated`; for `stripe`, a stand-in on a free
 * port and the variables that point the app at it (`secretKey` picks test or live mode).
 */
export function gatewaySetup(choice: GatewayChoice, secretKey?: string): GatewaySetup {
  if (choice === 'simulated') return { choice, env: { PAYMENT_GATEWAY: 'simulated' }, async stop() {} };
  const stripe = StripeStandIn.start(secretKey);
  return { choice, env: stripeEnv(stripe), stripe, stop: () => stripe.stop() };
}

export function stripeEnv(stripe: StripeStandIn): Record<string, string> {
  return {
    PAYMENT_GATEWAY: 'stripe',
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    STRIPE_API_URL: stripe.url,
  };
}
