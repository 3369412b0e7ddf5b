import type { MiddlewareHandler } from 'hono';
import { mountDashboard } from '../dashboard/board';
import { createMetrics } from '../wiring/metrics';
import { documentAccess } from './access';
import { type AppEnv, newRouter } from './context';
import type { AppDeps } from './deps';
import { mountDocs, OPENAPI_CONFIG } from './docs';
import { documentQueryRules } from './document-rules';
import { orderEventRoutes } from './live/sse-route';
import { LiveTracking } from './live/tracking';
import { wsRoutes } from './live/ws-route';
import { authorize } from './middleware/authorize';
import { basicAdminGuard } from './middleware/basic-admin';
import { jsonBodies } from './middleware/body';
import { httpMetrics } from './middleware/metrics';
import { isRateLimitExempt, rateLimits } from './middleware/rate-limit';
import { requestContext } from './middleware/request-context';
import { problemResponse, toProblem } from './problem';
import { apiKeyRoutes } from './routes/api-keys';
import { authRoutes } from './routes/auth';
import { eventRoutes } from './routes/events';
import { healthRoutes } from './routes/health';
import { inventoryRoutes } from './routes/inventory';
import { metricsRoutes } from './routes/metrics';
import { notifyRoutes } from './routes/notify';
import { orderRoutes } from './routes/orders';
import { paymentRoutes } from './routes/payments';
import { productRoutes } from './routes/products';
import { refundRoutes } from './routes/refunds';
import { stripeWebhookRoutes } from './routes/stripe-webhooks';
import { systemRoutes } from './routes/system';
import { webhookDeliveryRoutes } from './routes/webhook-deliveries';
import { webhookEndpointRoutes } from './routes/webhook-endpoints';
import { documentSharedResponses } from './shared-responses';

/**
 * Builds the whole HTTP edge from its dependencies; `server.ts` only gives it a socket. `tracing` is
 * the request-span middleware (api/middleware/tracing.ts), handed in only when tracing is on.
 */
export function createApp(
  deps: AppDeps,
  givenLive?: LiveTracking,
  tracing: MiddlewareHandler<AppEnv>[] = [],
) {
  const app = newRouter();
  const metrics =
    deps.metrics ??
    createMetrics({
      db: deps.db,
      queues: deps.queues.all(),
      logger: deps.logger,
      ordersCacheSeconds: deps.config.METRICS_ORDERS_CACHE_SECONDS,
    });
  const live = givenLive ?? new LiveTracking(deps.redis, deps.config, metrics);
  // Every router sees the same registry (cache hits, rate-limit rejections land in one /metrics).
  deps = { ...deps, metrics };

  // First, so that the request's span covers everything after it and every log line and problem has it.
  if (tracing.length) app.use('*', ...tracing);
  app.use('*', httpMetrics(metrics));
  app.use('*', requestContext(deps.logger));
  app.use('*', ...jsonBodies(deps.config.BODY_LIMIT_BYTES));
  app.use('*', rateLimits(deps));
  // Who may call each route (api/access.ts), before any route's own middleware.
  app.use('*', authorize(deps));

  app.route('/health', healthRoutes(deps));
  app.route('/metrics', metricsRoutes(metrics, deps.config.METRICS_TOKEN));
  app.route('/auth', authRoutes(deps));
  app.route('/products', productRoutes(deps));
  app.route('/inventory', inventoryRoutes(deps));
  app.route('/orders', orderRoutes(deps));
  app.route('/orders', orderEventRoutes(deps, live));
  app.route('/orders', refundRoutes(deps));
  app.route('/ws', wsRoutes(deps, live));
  app.route('/payment', paymentRoutes(deps));
  app.route('/webhooks/stripe', stripeWebhookRoutes(deps));
  app.route('/notify', notifyRoutes(deps));
  app.route('/system', systemRoutes(deps));
  app.route('/events', eventRoutes(deps));
  app.route('/webhook-endpoints', webhookEndpointRoutes(deps));
  app.route('/webhook-deliveries', webhookDeliveryRoutes(deps));
  app.route('/api-keys', apiKeyRoutes(deps));
  mountDashboard(app, { guard: basicAdminGuard(deps), queues: deps.queues });
  documentQueryRules(app);
  documentSharedResponses(app, {
    rateLimited: (path) => !isRateLimitExempt(path),
    needsNoBackend: (path) => path === '/health/live',
  });

  documentAccess(app);
  app.doc31('/openapi.json', OPENAPI_CONFIG);
  mountDocs(app);

  app.notFound((c) => problemResponse(c, 404, `No route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) =>
    toProblem(c, err, (e) => deps.logger.error({ err: e, requestId: c.get('requestId') }, 'unhandled error')),
  );
  return app;
}

export type App = ReturnType<typeof createApp>;
