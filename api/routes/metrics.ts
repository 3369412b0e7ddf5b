import { createRoute, z } from '@hono/zod-openapi';
import { type Metrics, PROMETHEUS_CONTENT_TYPE, scrapeAllowed } from '../../wiring/metrics';
import { newRouter } from '../context';
import { ProblemError } from '../problem';
import { problem } from '../schemas';

/**
 * `GET /metrics`: Prometheus text (HTTP, rate limits, orders by status, BullMQ queue depth per state).
 * With `token` (METRICS_TOKEN) only `Authorization: Bearer <token>` may read it.
 */
export function metricsRoutes(metrics: Metrics, token?: string) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Export Prometheus metrics',
      tags: ['operations'],
      description:
        'When the server sets METRICS_TOKEN (required in production unless METRICS_PUBLIC=on), only `Authorization: Bearer <METRICS_TOKEN>` may read them. One rendered answer serves scrapes for METRICS_CACHE_SECONDS. Under `bun run start` one scrape covers every process it supervises (counters summed, per-process gauges labelled `process`).',
      ...(token ? { security: [{ bearer: [] }] } : {}),
      responses: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: z.string() } },
        },
        401: problem('METRICS_TOKEN is set and the request does not carry it'),
      },
    }),
    async (c) => {
      if (!scrapeAllowed(c.req.header('authorization'), token)) {
        throw new ProblemError(401, 'A Bearer METRICS_TOKEN is required to read the metrics', undefined, {
          'www-authenticate': 'Bearer realm="metrics"',
        });
      }
      return c.text(await metrics.scrape(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
    },
  );

  return app;
}
