import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../lib/logger';
import type { AppEnv } from '../context';

const validId = /^[A-Za-z0-9._-]{1,100}$/;

/** Gives each request an id (the caller's X-Request-Id when sane), echoes it, and logs one line per request. */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && validId.test(incoming) ? incoming : crypto.randomUUID();
    c.set('requestId', requestId);
    const started = performance.now();
    await next();
    c.header('x-request-id', requestId);
    logger.info(
      {
        requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        userId: c.get('principal')?.userId,
        orderId: c.get('orderId'),
      },
      'request',
    );
  };
}
