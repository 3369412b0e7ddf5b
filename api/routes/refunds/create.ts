import { createRoute } from '@hono/zod-openapi';
import { requestRefund } from '../../../domain/orders/refunds/create';
import { settleRefund } from '../../../domain/orders/refunds/settle';
import { invalidate } from '../../../lib/cache';
import { actorOf } from '../../actor';
import type { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { idParam, jsonBody, jsonResponse, problem } from '../../schemas';
import { IdempotencyHeaders, NewRefund, Refund } from './schemas';

/**
 * `POST /orders/{id}/refunds`: the intent is committed (checked against what was captured), then the
 * gateway is asked, then its answer recorded; the refund comes back with the status it reached.
 */
export function createRefundRoute(app: ReturnType<typeof newRouter>, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/refunds',
      summary: 'Refund an order by amount or by lines',
      tags: ['orders'],
      request: { params: idParam('id'), headers: IdempotencyHeaders, body: jsonBody(NewRefund) },
      responses: {
        201: jsonResponse(Refund, 'The refund, succeeded (or failed, or pending while the gateway is away)'),
        200: jsonResponse(Refund, 'The refund this Idempotency-Key already created'),
        400: problem('Invalid body: amount not a positive whole number of cents, bad lines'),
        401: problem('Not signed in'),
        403: problem('Not an admin, or an API key without refunds:write'),
        404: problem('No such order'),
        409: problem(
          "The order's money was not captured (not paid or completed), the refund would pass what was captured, or a request with this key is in flight",
        ),
        422: problem(
          'Items the order does not have, quantities past what is left to return, or a reused key with another body',
        ),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const principal = c.get('principal');
      c.set('orderId', id);
      const requested = await requestRefund(deps.orders, {
        orderId: id,
        actor: { ...actorOf(principal), id: principal.apiKeyId ?? principal.userId },
        ...('amountCents' in body
          ? { amountCents: body.amountCents }
          : { items: body.items, restock: body.restock ?? true }),
        ...(body.reason ? { reason: body.reason } : {}),
        ...(c.req.valid('header')['idempotency-key']
          ? { idempotencyKey: c.req.valid('header')['idempotency-key'] }
          : {}),
      });
      let refund = requested.refund;
      if (refund.status === 'pending') {
        try {
          const settled = await settleRefund(deps.orders, refund.id);
          refund = settled.refund;
          for (const message of settled.messages) await deps.queues.send(message, id);
        } catch (err) {
          // The gateway is away (or Redis could not take the email): the refund stays owed as recorded;
          // the reconciler asks the gateway again and re-sends the message.
          deps.logger.warn({ err, orderId: id, refundId: refund.id }, 'refund left to the reconciler');
        }
      }
      // The order's refundedCents changed, and a completed order is cached.
      await invalidate(deps.redis, deps.config.QUEUE_PREFIX, 'order', [id]).catch(() => {});
      return requested.created ? c.json(refund, 201) : c.json(refund, 200);
    },
  );
}
