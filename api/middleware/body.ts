import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../context';
import { ProblemError } from '../problem';

const withBody = new Set(['POST', 'PUT', 'PATCH']);

/** The operators' console posts HTML forms and reads them itself (console/forms.ts); the size limit still holds. */
const formPaths = /^\/console(\/|$)/;

/** JSON only, and only so much of it: a body the API would not parse is refused before any handler. */
export function jsonBodies(maxBytes: number): MiddlewareHandler<AppEnv>[] {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ProblemError(413, `Request body is larger than ${maxBytes} bytes`);
    },
  });
  const contentType: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (withBody.has(c.req.method) && !formPaths.test(c.req.path)) {
      const length = c.req.header('content-length');
      const hasBody = length !== undefined ? length !== '0' : c.req.raw.body !== null;
      const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (hasBody && type !== 'application/json') {
        throw new ProblemError(415, 'Request bodies must be application/json');
      }
    }
    await next();
  };
  return [contentType, limit];
}
