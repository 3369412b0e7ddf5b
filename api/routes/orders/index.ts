import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { listUserOrdersRoute } from './by-user';
import { cancelOrderRoute } from './cancel';
import { getOrderRoute } from './get';
import { listOrdersRoute } from './list';
import { placeOrderRoute } from './place';
import { reviewOrderRoute } from './review';
import type { OrderRouter } from './router';

/** The `/orders` routes, one file each, registered in the order the OpenAPI document lists them. */
export function orderRoutes(deps: AppDeps) {
  const app = newRouter();
  const router: OrderRouter = { app, deps };
  listOrdersRoute(router);
  reviewOrderRoute(router);
  placeOrderRoute(router);
  getOrderRoute(router);
  cancelOrderRoute(router);
  listUserOrdersRoute(router);
  return app;
}
