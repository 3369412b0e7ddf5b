import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { getOrderView } from '../../domain/orders/read';
import { isFinal } from '../../domain/orders/status';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import type { OrderEventHub } from '../live';
import { assertSelfOrAdmin, requireAuth } from '../middleware/auth';
import { bearer, idParam, problem } from '../schemas';

// Re-reads the timeline this often even without a pub/sub wake-up: pub/sub delivers at most once.
const RECHECK_MS = 2000;
const HEARTBEAT_MS = 15_000;

/** `GET /orders/{id}/events`: the order's status live, as Server-Sent Events. */
export function orderEventRoutes(deps: AppDeps, hub: OrderEventHub) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/events',
      summary: "Stream an order's status changes (Server-Sent Events)",
      tags: ['orders'],
      security: bearer,
      middleware: [requireAuth(tokenSettings(deps))] as const,
      request: { params: idParam('id') },
      responses: {
        200: {
          description:
            'First `event: status` with `{status, at}`, then `event: change` with `{from, to, at, reason?}` per change; closes after a final status',
          content: { 'text/event-stream': { schema: z.string() } },
        },
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const first = await getOrderView(deps.db, id);
      assertSelfOrAdmin(c.get('principal'), first.userId);
      return streamSSE(c, async (stream) => {
        let wake: () => void = () => {};
        const unsubscribe = await hub.subscribe(id, () => wake());
        try {
          let order = await getOrderView(deps.db, id);
          let sent = order.events.length;
          await stream.writeSSE({
            event: 'status',
            data: JSON.stringify({ status: order.status, at: order.updatedAt }),
          });
          let lastBeat = Date.now();
          while (!isFinal(order.status) && !stream.aborted) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, RECHECK_MS);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            order = await getOrderView(deps.db, id);
            for (const e of order.events.slice(sent)) {
              await stream.writeSSE({ event: 'change', data: JSON.stringify(e) });
            }
            sent = order.events.length;
            if (Date.now() - lastBeat > HEARTBEAT_MS) {
              await stream.write(': keep-alive\n\n');
              lastBeat = Date.now();
            }
          }
        } finally {
          await unsubscribe();
        }
      });
    },
  );

  return app;
}
