import { createRoute, z } from '@hono/zod-openapi';
import { type Metrics, PROMETHEUS_CONTENT_TYPE } from '../../lib/metrics';
import { newRouter } from '../context';

/** `GET /metrics`: Prometheus text (HTTP, rate limits, orders by status, BullMQ queue depth per state). */
export function metricsRoutes(metrics: Metrics) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      summary: 'Export Prometheus metrics',
      tags: ['operations'],
      responses: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: z.string() } },
        },
      },
    }),
    async (c) => c.text(await metrics.render(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }),
  );

  return app;
}
