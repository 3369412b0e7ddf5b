import { Webhook } from 'standardwebhooks';

/**
 * A webhook receiver as a customer would run one: a real HTTP server on loopback that verifies every
 * delivery with the `standardwebhooks` package and counts deliveries per event id (`webhook-id`).
 * `answer` decides each response (by how often this event id was seen): 200 by default.
 */
export interface Receiver {
  url: string;
  port: number;
  /** Set once the endpoint is registered (its secret is shown then). */
  secret?: string;
  /** Verified deliveries per event id. */
  seen: Map<string, number>;
  /** Requests (verified or not) in all, and those whose signature did not verify. */
  requests: number;
  /** The TCP connections requests came over (the client's address and port): kept-alive ones count once. */
  connections: Set<string>;
  badSignatures: number;
  bodies: { id: string; type: string; data: Record<string, unknown> }[];
  answer: (nth: number, id: string) => Promise<Response> | Response;
  stop(): Promise<void>;
}

export function startReceiver(
  opts: { tls?: { cert: string; key: string }; hostname?: string } = {},
): Receiver {
  const r: Receiver = {
    url: '',
    port: 0,
    seen: new Map(),
    requests: 0,
    connections: new Set(),
    badSignatures: 0,
    bodies: [],
    answer: () => new Response('ok'),
    async stop() {
      await server.stop(true);
    },
  };
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    ...(opts.tls ? { tls: opts.tls } : {}),
    async fetch(req, srv) {
      r.requests++;
      const peer = srv.requestIP(req);
      if (peer) r.connections.add(`${peer.address}:${peer.port}`);
      const body = await req.text();
      const headers = Object.fromEntries(req.headers.entries());
      try {
        if (!r.secret) throw new Error('no secret yet');
        new Webhook(r.secret).verify(body, headers);
      } catch {
        r.badSignatures++;
        return new Response('bad signature', { status: 400 });
      }
      const id = headers['webhook-id'] ?? '';
      const nth = (r.seen.get(id) ?? 0) + 1;
      r.seen.set(id, nth);
      if (nth === 1) r.bodies.push(JSON.parse(body));
      return r.answer(nth, id);
    },
  });
  r.port = server.port ?? 0;
  r.url = `${opts.tls ? 'https' : 'http'}://${opts.hostname ?? '127.0.0.1'}:${r.port}/hooks`;
  return r;
}
