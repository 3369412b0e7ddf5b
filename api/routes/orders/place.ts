import { createRoute, z } from '@hono/zod-openapi';
import { getOrderView } from '../../../domain/orders/read';
import { activeTraceParent } from '../../../lib/tracing';
import { actorOf } from '../../actor';
import { IdSchema, jsonBody, jsonResponse, problem } from '../../schemas';
import { orderPlacer } from './placing';
import type { OrderRouter } from './router';
import { Order, PaymentToken } from './schemas';

const NewOrder = z
  .strictObject({
    items: z
      .array(z.strictObject({ productId: IdSchema, quantity: z.number().int().min(1).max(1000) }))
      .min(1, 'must hold at least one item')
      .max(100, 'at most 100 items')
      .refine(
        (items) => new Set(items.map((i) => i.productId)).size === items.length,
        'a product may appear once',
      )
      // JSON Schema's uniqueItems compares whole items; the rule is on productId alone: said in words,
      // and as an extension a validator can honour.
      .openapi({
        description: 'Each productId at most once (a product twice is refused: 400)',
        'x-uniqueItemProperty': 'productId',
      }),
    payment: z.strictObject({ token: PaymentToken }).optional(),
  })
  .openapi('NewOrder');

const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7E]{1,255}$/, '1-255 visible ASCII characters')
    .optional()
    .openapi({ param: { name: 'idempotency-key', in: 'header', description: 'Idempotency-Key' } }),
});

export function placeOrderRoute({ app, deps }: OrderRouter): void {
  const place = orderPlacer(deps);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Place an order',
      tags: ['orders'],
      request: { headers: IdempotencyHeaders, body: jsonBody(NewOrder) },
      responses: {
        202: jsonResponse(Order, 'Accepted: the order is pending and its flow is queued'),
        200: jsonResponse(Order, 'The order this Idempotency-Key already created'),
        400: problem('Invalid body'),
        401: problem('Not signed in'),
        409: problem(
          'A request with this key is in flight, or (without payment) the user already holds MAX_UNPAID_ORDERS unpaid orders',
        ),
        422: problem(
          'Unknown product, mixed currencies, a reused key with another body, or (without payment) more than MAX_UNPAID_UNITS units',
        ),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const key = c.req.valid('header')['idempotency-key'];
      const principal = c.get('principal');
      const placed = await place({
        userId: principal.userId,
        actor: actorOf(principal),
        items: body.items,
        paymentToken: body.payment?.token,
        idempotencyKey: key,
        withPayment: body.payment !== undefined,
        requestId: c.get('requestId'),
        traceParent: activeTraceParent(),
      });
      c.set('orderId', placed.orderId);
      const order = placed.order ?? (await getOrderView(deps.db, placed.orderId));
      // A new order's flow was added with its batch; a replay of one still pending is added again
      // (a no-op while its jobs exist, the way back if Redis lost them).
      if (!placed.created && order.status === 'pending') {
        try {
          await deps.queues.startOrder(placed.orderId, body.payment !== undefined, c.get('requestId'));
        } catch (err) {
          // The order is safe in MySQL; the reconciler adds its flow once Redis answers again.
          deps.logger.error(
            { err, orderId: placed.orderId },
            'could not queue the order flow; left to the reconciler',
          );
        }
      }
      return placed.created ? c.json(order, 202) : c.json(order, 200);
    },
  );
}
