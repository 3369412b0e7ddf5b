import { createRoute, z } from '@hono/zod-openapi';
import { forbidden } from '../../domain/errors';
import { attachPayment, getPaymentView } from '../../domain/orders/payment';
import { getOrderRow } from '../../domain/orders/read';
import { screenPayment } from '../../domain/orders/screen';
import { newRouter } from '../context';
import type { AppDeps } from '../deps';
import { assertSelfOrAdmin } from '../middleware/auth';
import { IdSchema, idParam, jsonBody, jsonResponse, problem } from '../schemas';
import { PaymentToken } from './orders/schemas';

const PayBody = z.strictObject({ orderId: IdSchema, token: PaymentToken }).openapi('PaymentRequest');

const PaymentView = z
  .object({
    orderId: z.string(),
    status: z.enum([
      'unpaid',
      'pending',
      'authorized',
      'succeeded',
      'failed',
      'voided',
      'partially_refunded',
      'refunded',
    ]),
    amountCents: z.number().int(),
    capturedCents: z.number().int(),
    refundedCents: z.number().int(),
    currency: z.string(),
    failureCode: z.string().optional(),
    transactions: z.array(
      z.object({
        type: z.enum(['authorization', 'capture', 'charge', 'void', 'refund']),
        amountCents: z.number().int(),
        gatewayRef: z.string(),
        at: z.string(),
      }),
    ),
  })
  .openapi('PaymentStatus');

export function paymentRoutes(deps: AppDeps) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Pay for a reserved order',
      tags: ['payments'],
      request: { body: jsonBody(PayBody) },
      responses: {
        202: jsonResponse(
          z.object({ orderId: z.string(), status: z.literal('pending') }),
          'The charge is queued',
        ),
        400: problem('Invalid body'),
        401: problem('Not signed in'),
        403: problem("Not the order's owner"),
        404: problem('No such order'),
        409: problem('The order is not reserved and unpaid'),
      },
    }),
    async (c) => {
      const { orderId, token } = c.req.valid('json');
      const order = await getOrderRow(deps.db, orderId);
      if (order.userId !== c.get('principal').userId)
        throw forbidden("Only the order's owner can pay for it");
      await attachPayment(deps.orders, orderId, token);
      c.set('orderId', orderId);
      // Screened before its charge is queued: an order held for review or rejected gets no charge job.
      const screened = await screenPayment(deps.orders, orderId).catch((err) => {
        deps.logger.warn({ err, orderId }, 'screening at payment failed; the charge step screens instead');
        return { next: 'charge' as const, messages: [] };
      });
      if (screened.next === 'charge') await deps.queues.resumeFrom(orderId, 'charge', c.get('requestId'));
      // A rejection wrote its notice with the transition (the outbox); the queue only delivers it.
      for (const message of screened.messages) await deps.queues.send(message, orderId);
      return c.json({ orderId, status: 'pending' as const }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/status/{orderId}',
      summary: "Get an order's payment status",
      tags: ['payments'],
      request: { params: idParam('orderId') },
      responses: {
        200: jsonResponse(PaymentView, 'The payment and every gateway transaction'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
      },
    }),
    async (c) => {
      const { orderId } = c.req.valid('param');
      assertSelfOrAdmin(c.get('principal'), (await getOrderRow(deps.db, orderId)).userId);
      return c.json(await getPaymentView(deps.orders, orderId), 200);
    },
  );

  return app;
}
