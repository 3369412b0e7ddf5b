import { createRoute } from '@hono/zod-openapi';
import type { ServerWebSocket } from 'bun';
import { upgradeWebSocket } from 'hono/bun';
import { newRouter } from '../context';
import { type AppDeps, tokenSettings } from '../deps';
import { ProblemError } from '../problem';
import { problem } from '../schemas';
import type { LiveTracking } from './tracking';
import { WsClose, WsSession } from './ws-session';

/**
 * `GET /ws`: live tracking of many orders on one WebSocket. The socket is served by `Bun.serve`
 * with `hono/bun`'s `websocket` handler (api/start/serve.ts); this route only decides whether to upgrade.
 */
export function wsRoutes(deps: AppDeps, live: LiveTracking) {
  const app = newRouter();
  const sessionDeps = { db: deps.db, live, tokens: tokenSettings(deps), logger: deps.logger };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['orders'],
      summary: 'Follow orders live over a WebSocket',
      description: [
        'Upgrade to a WebSocket. The first message is `{"type":"auth","token":<accessToken>}` (a bad or',
        `missing token, or none within \`WS_AUTH_TIMEOUT_SECONDS\`, closes with code ${WsClose.unauthorized});`,
        'the server answers `{"type":"authenticated"}`. Then `{"type":"subscribe","orderId"}` answers',
        '`{"type":"status","orderId","status","at"}` and a `{"type":"change","orderId","from","to","at","reason?"}`',
        'per change (someone else\'s order: `{"type":"error","orderId","status":403}`);',
        '`{"type":"unsubscribe","orderId"}` stops them. An admin may subscribe with `{"all":true}` to every',
        `order's changes. Limits: \`WS_MAX_SUBSCRIPTIONS\` orders per connection (error status 429),`,
        `\`LIVE_MAX_PER_USER\` live connections per user (close code ${WsClose.tooMany}); a client that leaves`,
        `more than \`WS_MAX_BUFFERED_BYTES\` unread is closed (${WsClose.tooSlow}). Messages past a connection's`,
        'budget (`WS_MESSAGES_PER_SECOND`, bursts of `WS_MESSAGE_BURST`) are dropped with one error of status 429',
        `per spell; more than \`WS_MAX_QUEUED_MESSAGES\` waiting to be handled closes the socket (${WsClose.tooManyQueued}).`,
        'A socket counts toward `LIVE_MAX_PER_PROCESS` from its handshake. The server pings every',
        '`LIVE_HEARTBEAT_SECONDS`; a client that answers no ping for `HTTP_IDLE_TIMEOUT_SECONDS` is closed.',
      ].join(' '),
      responses: {
        101: { description: 'Switching Protocols: the connection is now a WebSocket' },
        426: problem('Upgrade Required: not a WebSocket handshake'),
        429: problem('This process holds as many live connections as it may (`LIVE_MAX_PER_PROCESS`)'),
      },
    }),
    async (c) => {
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
        throw new ProblemError(
          426,
          'GET /ws is a WebSocket endpoint: send a WebSocket handshake',
          undefined,
          {
            upgrade: 'websocket',
            connection: 'Upgrade',
          },
        );
      }
      if (live.slots.full) {
        live.refused('ws', 'process');
        throw new ProblemError(
          429,
          'This server holds as many live connections as it may; retry shortly',
          undefined,
          {
            'retry-after': '5',
          },
        );
      }
      let session: WsSession | undefined;
      return upgradeWebSocket(c, {
        onOpen: (_event, ws) => {
          session = new WsSession(ws.raw as ServerWebSocket<unknown>, sessionDeps);
          session.opened();
        },
        onMessage: (event, _ws) => session?.received(event.data as string | ArrayBuffer),
        onClose: () => session?.ended(),
      });
    },
  );

  return app;
}
