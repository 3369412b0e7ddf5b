import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { ConsoleDeps, ConsoleEnv, OrderChange } from './deps';

/**
 * The console's live channel: every committed order change, from the API's live hub, as Server-Sent
 * Events to a signed-in admin (the session authenticates it, as it does the pages). The page's
 * script puts what it hears into the page as text only. A heartbeat keeps proxies from closing an
 * idle stream, and ends it once the session has ended.
 */
export function liveRoutes(
  app: Hono<ConsoleEnv>,
  deps: ConsoleDeps,
  stillSignedIn: (c: Context<ConsoleEnv>) => Promise<boolean>,
): void {
  app.get('/events', (c) => {
    let end = () => {};
    const slot = deps.openStream(c.get('session').userId, () => end());
    if (!slot) {
      c.header('retry-after', '5');
      return c.text('Too many live connections; retry shortly.', 429);
    }
    return streamSSE(c, async (stream) => {
      const pending: OrderChange[] = [];
      let wake: (() => void) | undefined;
      const stop = deps.changes((change) => {
        pending.push(change);
        wake?.();
      });
      let open = true;
      end = () => {
        open = false;
        wake?.();
      };
      stream.onAbort(end);
      try {
        await stream.writeSSE({ event: 'ready', data: '{}' });
        const heartbeatMs = deps.config.LIVE_HEARTBEAT_SECONDS * 1000;
        while (open) {
          if (pending.length === 0) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, heartbeatMs);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
          if (!open) break;
          if (pending.length === 0) {
            if (!(await stillSignedIn(c))) break;
            await stream.writeSSE({ event: 'ping', data: '{}' });
            continue;
          }
          for (const change of pending.splice(0)) {
            await stream.writeSSE({ event: 'change', data: JSON.stringify(change) });
          }
        }
      } finally {
        stop();
        slot.close();
      }
    });
  });
}
