import { httpInstrumentationMiddleware } from '@hono/otel';
import { trace } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';

/**
 * The request's span (`@hono/otel`: the root of the trace, or the child of an incoming W3C
 * `traceparent`), loaded by api/start/assemble.ts only when tracing is on. What it records is trimmed
 * to what an operator filters by: the URL without its query (a live stream's query may carry a
 * token), the caller's user id (or API key id) and the order the request acted on, never an email.
 */
export function tracingMiddleware(): MiddlewareHandler<AppEnv>[] {
  return [
    httpInstrumentationMiddleware({ captureActiveRequests: false }),
    async (c, next) => {
      const span = trace.getActiveSpan();
      const url = new URL(c.req.url);
      span?.setAttribute('url.full', `${url.origin}${url.pathname}`);
      try {
        await next();
      } finally {
        const principal = c.get('principal');
        const orderId = c.get('orderId');
        // An API key's caller is the key (its id, never the key itself); a signed-in caller the user.
        if (principal?.apiKeyId) span?.setAttribute('api_key.id', principal.apiKeyId);
        else if (principal) span?.setAttribute('user.id', principal.userId);
        if (orderId) span?.setAttribute('order.id', orderId);
        span?.setAttribute('request.id', c.get('requestId') ?? '');
      }
    },
  ];
}
