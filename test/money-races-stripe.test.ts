import { afterAll } from 'bun:test';
import { createGateway } from '../wiring/adapters';
import { TEST_WEBHOOK_SECRET } from './support/gateways';
import { moneyRaces } from './support/money-races';
import { StripeStandIn } from './support/stripe-stand-in';

// The same money races as test/money-races.test.ts, with Stripe's adapter (through the real SDK, behind
// the breaker as production wires it) against the stand-in.
const stripe = StripeStandIn.start();
afterAll(() => stripe.stop());

moneyRaces('stripe', (h) =>
  createGateway(
    {
      ...h.config,
      PAYMENT_GATEWAY: 'stripe',
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      STRIPE_API_URL: stripe.url,
    },
    h.db,
  ),
);
