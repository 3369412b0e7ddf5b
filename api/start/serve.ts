import { websocket } from 'hono/bun';
import type { Config } from '../../lib/config';
import type { AssembledApi } from './assemble';

type ServeSettings = Pick<Config, 'HTTP_IDLE_TIMEOUT_SECONDS' | 'WS_MAX_BUFFERED_BYTES'>;

/**
 * Gives the app a socket: every place that serves the API (api/start/server.ts, so `bun run api` and
 * `bun run start`, and the tests that need a real server) goes through here, so they all get the
 * WebSocket handler and the idle timeout that live tracking relies on.
 */
export function serveApi(
  api: Pick<AssembledApi, 'app'>,
  config: ServeSettings,
  // reusePort: several API processes on one port (the supervisor's children, scripts/start.ts).
  listen: { port: number; hostname?: string; reusePort?: boolean },
) {
  return Bun.serve({
    ...listen,
    fetch: api.app.fetch,
    development: false,
    // Bun's default (10 s) cut live streams; they send a heartbeat at least twice per this period.
    idleTimeout: config.HTTP_IDLE_TIMEOUT_SECONDS,
    websocket: {
      ...websocket,
      // The session pings every LIVE_HEARTBEAT_SECONDS itself; a client silent this long is gone.
      idleTimeout: config.HTTP_IDLE_TIMEOUT_SECONDS,
      sendPings: false,
      // Client messages are a few hundred bytes at most (auth, subscribe).
      maxPayloadLength: 16 * 1024,
      // The session drops a slow reader at WS_MAX_BUFFERED_BYTES with a reason; this is Bun's backstop.
      backpressureLimit: config.WS_MAX_BUFFERED_BYTES + 64 * 1024,
      closeOnBackpressureLimit: true,
    },
  });
}
