import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { getOrderRow } from '../../domain/orders/read';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { assertSelfOrAdmin, bearerToken, tokenStillValid } from '../middleware/auth';
import { ProblemError } from '../problem';
import { idParam, problem } from '../schemas';
import { followOrder } from './follow';
import type { LiveTracking } from './tracking';

/** `GET /orders/{id}/events`: the order's status live, as Server-Sent Events. */
export function orderEventRoutes(deps: AppDeps, live: LiveTracking) {
  const app = newRouter();
  const tokens = tokenSettings(deps);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/events',
      tags: ['orders'],
      summary: "Follow an order's status live (Server-Sent Events)",
      request: { params: idParam('id') },
      responses: {
        200: {
          description:
            'First `event: status` with `{status, at}`, then `event: change` with `{from, to, at, reason?}` per change; closes after a final status. A quiet stream gets a comment line (`: keep-alive`) every `LIVE_HEARTBEAT_SECONDS`; at each, the token is checked again, and the stream closes once it has expired or its login was ended (logout).',
          content: { 'text/event-stream': { schema: z.string() } },
        },
        400: problem('Not a valid order id'),
        401: problem('Not signed in'),
        403: problem("Someone else's order"),
        404: problem('No such order'),
        429: problem('Too many open live connections for this user (`LIVE_MAX_PER_USER`) or this process'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const principal = c.get('principal');
      const token = bearerToken(c.req.header('authorization')) as string;
      assertSelfOrAdmin(principal, (await getOrderRow(deps.db, id)).userId);
      const slot = live.slots.acquire(principal.userId);
      if ('refused' in slot) {
        live.refused('sse', slot.refused);
        throw new ProblemError(
          429,
          slot.refused === 'user'
            ? `You already follow ${live.slots.maxPerUser} orders live; close one first`
            : 'This server follows as many orders live as it can; retry shortly',
          undefined,
          { 'retry-after': '5' },
        );
      }
      const stop = new AbortController();
      const untrack = live.track(() => stop.abort());
      return streamSSE(c, async (stream) => {
        stream.onAbort(() => stop.abort());
        try {
          await followOrder({
            db: deps.db,
            hub: live.hub,
            orderId: id,
            signal: stop.signal,
            onStatus: (s) => stream.writeSSE({ event: 'status', data: JSON.stringify(s) }),
            onChange: (e) => stream.writeSSE({ event: 'change', data: JSON.stringify(e) }),
            // Bun closes a connection that is quiet for HTTP_IDLE_TIMEOUT_SECONDS; proxies do the same.
            // Each beat checks the token again, as a WebSocket does: a stream outlives neither its
            // token's expiry nor a logout by more than a heartbeat.
            heartbeat: {
              everyMs: live.heartbeatMs,
              beat: async () => {
                if (!(await tokenStillValid(tokens, token))) return stop.abort();
                await stream.write(': keep-alive\n\n');
              },
            },
            safetyRecheckMs: live.safetyRecheckMs,
            onRead: (t) => live.countRead(t),
          });
        } catch (err) {
          // MySQL gone mid-stream: end it (the client reconnects and gets the status again).
          deps.logger.warn({ err, orderId: id }, 'order event stream failed');
        } finally {
          untrack();
          slot.release();
        }
      });
    },
  );

  return app;
}
