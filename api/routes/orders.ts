import { createRoute, z } from '@hono/zod-openapi';
import { actorTypes } from '../../domain/actor';
import { decideReview } from '../../domain/fraud/review';
import { cancelOrder } from '../../domain/orders/compensate';
import { getOrderRow, getOrderView, listOrdersByStatus, listOrdersOfUser } from '../../domain/orders/read';
import { isFinal, orderStatuses } from '../../domain/orders/status';
import { actorOf } from '../actor';
import { appCache } from '../cache';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { assertSelfOrAdmin, requireAuth } from '../middleware/auth';
import { orderPlacer } from '../placing';
import { bearer, IdSchema, idParam, jsonBody, jsonResponse, PageQuery, problem } from '../schemas';

export const PaymentToken = z
  .string()
  .regex(/^tok_[A-Za-z0-9_]{1,60}$/, 'must be a card token such as tok_visa');

const NewOrder = z
  .strictObject({
    items: z
      .array(z.strictObject({ productId: IdSchema, quantity: z.number().int().min(1).max(1000) }))
      .min(1, 'must hold at least one item')
      .max(100, 'at most 100 items')
      .refine(
        (items) => new Set(items.map((i) => i.productId)).size === items.length,
        'a product may appear once',
      ),
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

const Status = z.enum(orderStatuses);
export const Order = z
  .object({
    id: z.string(),
    userId: z.string(),
    status: Status,
    items: z.array(
      z.object({ productId: z.string(), quantity: z.number().int(), unitPriceCents: z.number().int() }),
    ),
    totalCents: z.number().int(),
    currency: z.string(),
    failureReason: z.string().optional(),
    risk: z
      .object({
        score: z.number().min(0).max(1),
        decision: z.enum(['approve', 'review', 'reject']),
        reasons: z.array(z.string()),
        model: z.string(),
      })
      .optional()
      .openapi({ description: 'Fraud screening, once the order has been screened (before its charge)' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    events: z.array(
      z.object({
        from: Status.nullable(),
        to: Status,
        at: z.string(),
        reason: z.string().optional(),
        actor: z.object({ type: z.enum(actorTypes), id: z.string().optional() }).openapi({
          description: "Who caused the change: the user's, admin's or API key's id; none for system",
        }),
      }),
    ),
  })
  .openapi('Order');

const OrderPage = z.object({ data: z.array(Order), nextCursor: z.string().nullable() }).openapi('OrderPage');
const StatusQuery = PageQuery.extend({ status: Status });
const ReviewBody = z.strictObject({ decision: z.enum(['approve', 'reject']) }).openapi('ReviewDecision');

export function orderRoutes(deps: AppDeps) {
  const app = newRouter();
  const cache = appCache(deps);
  const signedIn = requireAuth(tokenSettings(deps));
  const place = orderPlacer(deps);
  const adminOnly = requireAuth(tokenSettings(deps), 'admin');

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['orders'],
      summary: 'List orders in one status',
      security: bearer,
      middleware: [adminOnly] as const,
      request: { query: StatusQuery },
      responses: {
        200: jsonResponse(OrderPage, 'Newest first'),
        400: problem('Invalid query'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
      },
    }),
    async (c) => {
      const { status, limit, cursor } = c.req.valid('query');
      return c.json(await listOrdersByStatus(deps.db, status, limit, cursor), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/review',
      tags: ['orders'],
      summary: 'Decide an order held for fraud review',
      security: bearer,
      middleware: [adminOnly] as const,
      request: { params: idParam('id'), body: jsonBody(ReviewBody) },
      responses: {
        200: jsonResponse(Order, 'The order: approved (back to reserved, its charge queued) or rejected'),
        400: problem('Invalid body'),
        401: problem('Not signed in'),
        403: problem("Not an admin (the order's owner cannot decide on it either)"),
        404: problem('No such order'),
        409: problem('The order is not in review'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { decision } = c.req.valid('json');
      c.set('orderId', id);
      const actor = actorOf(c.get('principal'));
      const decided = await decideReview(deps.orders, id, decision, actor);
      deps.logger.info({ orderId: id, decision, actor }, 'review decided');
      deps.metrics?.reviewEnded(decision);
      try {
        if (decision === 'approve') await deps.queues.resumeAfterReview(id, c.get('requestId'));
        // A rejection wrote its notice with the transition (the outbox); the queue only delivers it.
        for (const message of decided.messages) await deps.queues.send(message, id);
      } catch (err) {
        // The decision is committed; the reconciler re-adds the charge of an approved order it finds idle
        // and re-sends a notice that was never queued.
        deps.logger.error(
          { err, orderId: id },
          'could not queue what follows the review; left to the reconciler',
        );
      }
      return c.json(await getOrderView(deps.db, id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/',
      summary: 'Place an order',
      tags: ['orders'],
      security: bearer,
      middleware: [signedIn] as const,
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

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      summary: 'Get an order with its timeline',
      tags: ['orders'],
      security: bearer,
      middleware: [signedIn] as const,
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(Order, 'The order with its timeline'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      c.set('orderId', id);
      // Only a final order is cached: it never changes again (no move leaves a final status, every
      // write to an order is a compare-and-set on a live one), so no transition has to invalidate it;
      // a live order changes within milliseconds during its saga and is read from MySQL.
      const order = await cache.get(
        'order',
        id,
        () => getOrderView(deps.db, id),
        (o) => isFinal(o.status),
      );
      assertSelfOrAdmin(c.get('principal'), order.userId);
      return c.json(order, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/{id}/cancel',
      summary: 'Cancel an order',
      tags: ['orders'],
      security: bearer,
      middleware: [signedIn] as const,
      request: { params: idParam('id') },
      responses: {
        200: jsonResponse(Order, 'The cancelled order'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
        409: problem('The order is final'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      c.set('orderId', id);
      assertSelfOrAdmin(c.get('principal'), (await getOrderRow(deps.db, id)).userId);
      const actor = actorOf(c.get('principal'));
      const cancelled = await cancelOrder(deps.orders, id, actor);
      deps.logger.info({ orderId: id, actor }, 'order cancelled');
      if (cancelled.refund === 'owed') {
        deps.logger.warn({ orderId: id }, 'refund not confirmed by the gateway; left to the reconciler');
      }
      try {
        // The notice was written with the cancel (the outbox); the queue only delivers it.
        for (const message of cancelled.messages) await deps.queues.send(message, id);
      } catch (err) {
        deps.logger.error(
          { err, orderId: id },
          'could not queue the cancellation notice; the reconciler re-sends it',
        );
      }
      return c.json(await getOrderView(deps.db, id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/user/{userId}',
      summary: "List a user's orders",
      tags: ['orders'],
      security: bearer,
      middleware: [signedIn] as const,
      request: { params: idParam('userId'), query: PageQuery },
      responses: {
        200: jsonResponse(OrderPage, 'Newest first'),
        400: problem('Invalid query'),
        401: problem('Not signed in'),
        403: problem("Someone else's orders"),
        404: problem('No such user'),
      },
    }),
    async (c) => {
      const { userId } = c.req.valid('param');
      assertSelfOrAdmin(c.get('principal'), userId);
      const { limit, cursor } = c.req.valid('query');
      return c.json(await listOrdersOfUser(deps.db, userId, limit, cursor), 200);
    },
  );

  return app;
}
