import { systemResolve } from '../../../domain/webhooks/addresses';
import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { deleteEndpointRoute } from './delete';
import { listDeliveriesRoute } from './deliveries';
import { getEndpointRoute } from './get';
import { listEndpointsRoute } from './list';
import { patchEndpointRoute } from './patch';
import { createEndpointRoute } from './post';
import type { WebhookRouter } from './router';

/**
 * `/webhook-endpoints`, one file per route: where events are sent, which ones, and the log of what
 * was sent. Who may call them (an admin, or a key with `webhooks:manage`) is in api/access.ts.
 */
export function webhookEndpointRoutes(deps: AppDeps) {
  const app = newRouter();
  const router: WebhookRouter = {
    app,
    deps,
    guard: { allowPrivate: deps.config.WEBHOOK_ALLOW_PRIVATE, resolve: systemResolve },
  };
  createEndpointRoute(router);
  listEndpointsRoute(router);
  getEndpointRoute(router);
  patchEndpointRoute(router);
  deleteEndpointRoute(router);
  listDeliveriesRoute(router);
  return app;
}
