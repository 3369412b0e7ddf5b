import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { receiveStripeEventRoute } from './receive';

/** `/webhooks/stripe`: what Stripe tells us (signed with the endpoint's secret, no user behind it). */
export function stripeWebhookRoutes(deps: AppDeps) {
  const app = newRouter();
  receiveStripeEventRoute(app, deps);
  return app;
}
