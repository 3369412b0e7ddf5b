import { expect } from 'bun:test';
import { serveApi } from '../../api/start/serve';
import { createHarness, type Harness } from './harness';
import { shop } from './shop';
import { eventually, startTestWorkers } from './workers';

/** The harness's app behind a real `Bun.serve` on a free port, as `bun run api` serves it. */
export function serveHarness(h: Harness) {
  const server = serveApi(h, h.config, { port: 0, hostname: '127.0.0.1' });
  return {
    server,
    url: `http://127.0.0.1:${server.port}`,
    wsUrl: `ws://127.0.0.1:${server.port}/ws`,
    async stop() {
      h.live.endAll();
      // As api/start/server.ts stops: end live connections, then a graceful stop that must not hang on them.
      await server.stop();
    },
  };
}

/**
 * What a live-tracking test runs against: a harness with these settings, an admin and the shop
 * helpers, workers in the test process, and the app behind a real server (for SSE and WebSocket).
 */
export async function startLiveStack(
  env: Record<string, string>,
  workers: Parameters<typeof startTestWorkers>[1] = {},
) {
  const h = await createHarness(env);
  const admin = await h.signUp('admin');
  const s = shop(h, admin);
  const w = await startTestWorkers(h, { concurrency: 5, ...workers });
  const srv = serveHarness(h);
  return {
    h,
    admin,
    s,
    srv,
    async stop() {
      await srv.stop();
      await w.stop();
      await h.cleanup();
    },
  };
}

export type LiveStack = Awaited<ReturnType<typeof startLiveStack>>;

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** One SSE event block (lines up to a blank line): its `event:` name and its `data:` as JSON. */
export function parseSseBlock(block: string): SseEvent {
  const lines = block.split('\n');
  const event =
    lines
      .find((l) => l.startsWith('event:'))
      ?.slice(6)
      .trim() ?? 'message';
  const data = lines
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim())
    .join('\n');
  return { event, data: JSON.parse(data) as Record<string, unknown> };
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
          if (block.split('\n').every((l) => l.startsWith(':'))) state.comments++;
          else state.events.push(parseSseBlock(block));
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

/** A pay-later order, waiting in `reserved` (the test's workers run the reserve step). */
export async function reservedOrder(s: ReturnType<typeof shop>, token: string): Promise<string> {
  const p = await s.product(5);
  const res = await s.place(token, p, 1, null);
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await eventually(async () => (await s.order(id)).status === 'reserved', `order ${id} reserved`);
  return id;
}

export type WsMessage = Record<string, unknown>;

/** A real WebSocket client (Bun's, as a browser's) that records what it receives and how it closed. */
export async function connectWs(url: string) {
  const ws = new WebSocket(url);
  const messages: WsMessage[] = [];
  const state = { closed: undefined as { code: number; reason: string } | undefined };
  ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)) as WsMessage);
  ws.onclose = (e) => {
    state.closed = { code: e.code, reason: e.reason };
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error('websocket did not open'));
  });
  const client = {
    ws,
    messages,
    state,
    send: (m: unknown) => ws.send(JSON.stringify(m)),
    /** Waits for a message matching `match` and returns it. */
    async next(match: (m: WsMessage) => boolean, what: string, timeoutMs = 15_000): Promise<WsMessage> {
      await eventually(() => messages.some(match), what, timeoutMs);
      return messages.find(match) as WsMessage;
    },
    async auth(token: string) {
      client.send({ type: 'auth', token });
      await client.next((m) => m.type === 'authenticated', 'authenticated');
    },
    async close() {
      ws.close();
      await eventually(() => state.closed !== undefined, 'closed');
    },
  };
  return client;
}
