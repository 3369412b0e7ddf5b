import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { applyStripeEvent, verifyStripeEvent } from '../../../domain/orders/stripe-events';
import { invalidate } from '../../../lib/cache';
import type { AppEnv } from '../../context';
import type { AppDeps } from '../../deps';
import { ProblemError } from '../../problem';
import { jsonResponse, problem } from '../../schemas';

const Received = z
  .object({
    received: z.literal(true),
    result: z.enum(['applied', 'duplicate', 'ignored']),
  })
  .openapi('StripeWebhookReceived');

/**
 * `POST /webhooks/stripe`: Stripe's events. No Bearer token: the caller is whoever holds the
 * endpoint's signing secret (STRIPE_WEBHOOK_SECRET), proven by `Stripe-Signature` over the raw body.
 */
export function receiveStripeEventRoute(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: "Receive Stripe's events",
      description:
        "Stripe's event JSON, signed with the endpoint's secret. Each event is applied once however often it arrives: a refund made in Stripe's dashboard (`charge.refunded`), a dispute (`charge.dispute.created`), a payment that failed after the fact (`payment_intent.payment_failed`).",
      tags: ['payments'],
      security: [],
      request: { headers: z.object({ 'stripe-signature': z.string().min(1).max(2000) }) },
      responses: {
        200: jsonResponse(Received, 'Received: applied now, applied before, or not about an order of ours'),
        400: problem('No, a bad or a stale signature (nothing changed), or webhooks not configured'),
      },
    }),
    async (c) => {
      const secret = deps.config.STRIPE_WEBHOOK_SECRET;
      if (!secret) throw new ProblemError(400, 'Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)');
      // The raw body exactly as sent: the signature is over its bytes, not over a re-serialised JSON.
      const payload = await c.req.text();
      const event = await verifyStripeEvent(payload, c.req.valid('header')['stripe-signature'], secret);
      const outcome = await applyStripeEvent(deps.orders, event, deps.stripeRefunds ?? undefined);
      if (outcome.orderId) {
        c.set('orderId', outcome.orderId);
        // A final order's cached view does not change by transition here (a flag, a refund): stale it.
        if (outcome.result === 'applied')
          await invalidate(deps.redis, deps.config.QUEUE_PREFIX, 'order', [outcome.orderId]).catch(() => {});
      }
      for (const message of outcome.messages) await deps.queues.send(message, outcome.orderId ?? '');
      return c.json({ received: true as const, result: outcome.result }, 200);
    },
  );
}
