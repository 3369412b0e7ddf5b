import { newRouter } from '../../context';
import type { AppDeps } from '../../deps';
import { createProductRoute } from './create';
import { getProductRoute } from './get';
import { listProductsRoute } from './list';
import type { ProductRouter } from './router';

/** The `/products` routes, one file each, registered in the order the OpenAPI document lists them. */
export function productRoutes(deps: AppDeps) {
  const app = newRouter();
  const router: ProductRouter = { app, deps };
  createProductRoute(router);
  listProductsRoute(router);
  getProductRoute(router);
  return app;
}
