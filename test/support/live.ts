import { serveApi } from '../../api/serve';
import type { Harness } from './harness';

/** The harness's app behind a real `Bun.serve` on a free port, as `bun run api` serves it. */
export function serveHarness(h: Harness) {
  const server = serveApi(h, h.config, { port: 0, hostname: '127.0.0.1' });
  return {
    server,
    url: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}/ws`,
    async stop() {
      h.live.endAll();
      // As api/server.ts stops: end live connections, then a graceful stop that must not hang on them.
      await server.stop();
    },
  };
}

/** Polls `check` until it is true (a slow, shared machine: never a fixed sleep). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * Reads an SSE response as it arrives: the events so far, the heartbeat comments so far, and
 * whether (and when) the server ended the stream.
 */
export function followSse(res: Response) {
  const state = {
    events: [] as SseEvent[],
    comments: 0,
    ended: false,
    error: undefined as unknown,
  };
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const done = (async () => {
    try {
      for (;;) {
        const { done: finished, value } = await reader.read();
        if (finished) break;
        buffer += decoder.decode(value, { stream: true });
        let cut = buffer.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const lines = block.split('\n');
          if (lines.every((l) => l.startsWith(':'))) state.comments++;
          else {
            const event =
              lines
                .find((l) => l.startsWith('event:'))
                ?.slice(6)
                .trim() ?? 'message';
            const data = lines
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trim())
              .join('\n');
            state.events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          }
          cut = buffer.indexOf('\n\n');
        }
      }
    } catch (err) {
      state.error = err;
    } finally {
      state.ended = true;
    }
  })();
  return { state, done, cancel: () => reader.cancel().catch(() => {}) };
}
