import type { Server } from 'bun';

/** One email the stand-in accepted (a request retried under the same Idempotency-Key is not another). */
export interface Delivered {
  to: string;
  subject: string;
  text: string;
  requestKey: string | null;
}

/**
 * Stands in for Resend (a third party) on a local port, speaking its wire format to the real SDK:
 * `POST /emails` and `POST /emails/batch`. Like Resend it answers a repeated `Idempotency-Key` with
 * the first answer and sends nothing again, so `delivered` is what the customers received. Give a
 * process `env` (RESEND_API_KEY, RESEND_BASE_URL) and its email goes here.
 */
export function resendStandIn() {
  const delivered: Delivered[] = [];
  const answered = new Map<string, unknown>();
  let requests = 0;
  let n = 0;
  const server: Server<undefined> = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      requests++;
      const path = new URL(req.url).pathname;
      const key = req.headers.get('idempotency-key');
      const body = (await req.json()) as unknown;
      if (key && answered.has(`${path} ${key}`)) return Response.json(answered.get(`${path} ${key}`));
      const accept = (m: { to: string | string[]; subject: string; text: string }) => {
        for (const to of Array.isArray(m.to) ? m.to : [m.to])
          delivered.push({ to, subject: m.subject, text: m.text, requestKey: key });
        return { id: `re_${++n}` };
      };
      let answer: unknown;
      if (path === '/emails') answer = accept(body as Parameters<typeof accept>[0]);
      else if (path === '/emails/batch')
        answer = { data: (body as Parameters<typeof accept>[0][]).map(accept), errors: [] };
      else return Response.json({ statusCode: 404, name: 'not_found', message: path }, { status: 404 });
      if (key) answered.set(`${path} ${key}`, answer);
      return Response.json(answer);
    },
  });
  return {
    delivered,
    get requests() {
      return requests;
    },
    env: { RESEND_API_KEY: 're_test_stand_in', RESEND_BASE_URL: `http://127.0.0.1:${server.port}` },
    /** Emails the customers received whose text names this order (every outcome message does). */
    of: (orderId: string) => delivered.filter((d) => d.text.includes(orderId)),
    stop: () => server.stop(true),
  };
}
