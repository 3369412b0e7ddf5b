import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { createRefundRoute } from './create';
import { listRefundsRoute } from './list';

/** Refunds after the sale, under `/orders/{id}/refunds`. */
export function refundRoutes(deps: AppDeps) {
  const app = newRouter();
  createRefundRoute(app, deps);
  listRefundsRoute(app, deps);
  return app;
}
