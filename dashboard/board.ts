import { type Env, Hono, type MiddlewareHandler } from 'hono';
import type { PartitionedQueues } from '../queues/partitioned';

export const DASHBOARD_PATH = '/admin/queues';

/**
 * What the board is given by the app that mounts it: the dashboard imports nothing of the API, so the
 * API decides who may see it (its admin guard) and the board only shows the queues.
 */
export interface DashboardDeps<E extends Env> {
  guard: MiddlewareHandler<E>;
  queues: PartitionedQueues;
}

/** Marks the answer of a path the board has no route for: the API's own 404 answers it instead. */
const UNMATCHED = 'x-orderflow-board-unmatched';

/**
 * Bull Board over every queue of the order platform, retries and job inspection enabled, behind the
 * guard the API hands in (its Basic admin sign-in). Mount it at {@link DASHBOARD_PATH}; its errors go
 * through the parent app's problem+json handler.
 *
 * The board (Bull Board's packages, its adapters over every queue) is loaded on the first request that
 * passes the guard, not at start: most API processes never serve it, and its module graph is several
 * MB of every process's resident memory.
 */
export function dashboardRoutes<E extends Env>(deps: DashboardDeps<E>): Hono<E> {
  let ui: Promise<Hono> | undefined;
  const loadUi = () => {
    ui ??= import('./ui').then(({ boardUi }) => {
      const app = new Hono();
      app.route(DASHBOARD_PATH, boardUi(deps, DASHBOARD_PATH));
      // Errors reach the API's problem+json handler, as they did when the board was mounted directly.
      app.onError((err) => {
        throw err;
      });
      app.notFound((c) => c.body(null, 404, { [UNMATCHED]: '1' }));
      return app;
    });
    // A failed load is tried again by the next request rather than remembered.
    ui.catch(() => {
      ui = undefined;
    });
    return ui;
  };

  const board = new Hono<E>();
  board.use('*', deps.guard);
  board.use('*', async (c, next) => {
    // The board's own links end in a slash (its <base href>); the page itself is served without one.
    if (c.req.path === `${DASHBOARD_PATH}/`) return c.redirect(DASHBOARD_PATH, 302);
    await next();
    // Job data and the page are per-admin: keep them out of shared caches (the hashed static files may stay).
    if (!c.req.path.startsWith(`${DASHBOARD_PATH}/static/`) && !c.res.headers.has('cache-control')) {
      c.header('cache-control', 'private, no-store');
    }
  });
  board.all('*', async (c, next) => {
    const res = await (await loadUi()).fetch(c.req.raw, c.env);
    if (res.headers.has(UNMATCHED)) return next();
    return res;
  });
  return board;
}

/** Adds the dashboard to an app at {@link DASHBOARD_PATH}. */
export function mountDashboard<E extends Env>(app: Hono<E>, deps: DashboardDeps<E>): void {
  app.route(DASHBOARD_PATH, dashboardRoutes(deps));
}
