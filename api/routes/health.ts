import { createRoute, z } from '@hono/zod-openapi';
import { pingDatabase } from '../../db/client';
import { withTimeout } from '../../wiring/resources';
import { newRouter } from '../context';
import type { AppDeps } from '../deps';
import { jsonResponse } from '../schemas';

const Checks = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.enum(['up', 'down'])),
});

export function healthRoutes(deps: AppDeps) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/live',
      summary: 'Check that the process is alive',
      tags: ['operations'],
      responses: { 200: jsonResponse(z.object({ status: z.literal('ok') }), 'The process is up') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/ready',
      summary: 'Check that Redis and MySQL answer',
      tags: ['operations'],
      responses: {
        200: jsonResponse(Checks, 'Redis and MySQL answer'),
        503: jsonResponse(Checks, 'Which dependency failed'),
      },
    }),
    async (c) => {
      const [redis, mysql] = await Promise.all([
        up(() => deps.redis.ping()),
        up(() => pingDatabase(deps.db)),
      ]);
      const ok = redis === 'up' && mysql === 'up';
      const body = { status: ok ? ('ok' as const) : ('unavailable' as const), checks: { redis, mysql } };
      return ok ? c.json(body, 200) : c.json(body, 503);
    },
  );

  return app;
}

async function up(check: () => Promise<unknown>): Promise<'up' | 'down'> {
  try {
    await withTimeout(check(), 1500);
    return 'up';
  } catch {
    return 'down';
  }
}
