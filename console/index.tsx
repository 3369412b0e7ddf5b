import { Hono } from 'hono';
import { apiKeyRoutes } from './api-keys';
import { assetRoutes } from './assets';
import { signInRoutes, signOutRoute } from './auth';
import { sameOrigin, tokenMatches } from './csrf';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { BASE, Layout } from './layout';
import { liveRoutes } from './live';
import { orderRoutes } from './orders';
import { reviewRoutes } from './review';
import { ConsoleSessions } from './session';
import { webhookRoutes } from './webhooks';

export type { ConsoleDeps } from './deps';

/**
 * The operators' console, mounted by the API at `/console`: server-rendered pages for admins
 * signed in with a session cookie. Order of the guards: assets and the sign-in form are open;
 * everything else needs a live session (a page redirects to sign-in, anything else gets 401); every
 * state-changing request must come from the console's origin with the session's CSRF token.
 */
export function consoleRoutes(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const sessions = new ConsoleSessions(deps.redis, deps.config);

  app.use('*', async (c, next) => {
    await next();
    // Pages carry per-admin data and a CSRF token: never cached, never framed, nothing from elsewhere.
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'private, no-store');
    c.header('x-frame-options', 'DENY');
    c.header(
      'content-security-policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    );
    c.header('referrer-policy', 'same-origin');
  });

  assetRoutes(app);
  // The sign-in form itself is posted without a session; it still has to come from our origin.
  app.post('/sign-in', async (c, next) => {
    if (!sameOrigin(c)) return c.text('Refused: the form did not come from this console.', 403);
    await next();
  });
  signInRoutes(app, deps, sessions);

  app.use('*', async (c, next) => {
    if (c.req.path === `${BASE}/sign-in` || c.req.path.startsWith(`${BASE}/assets/`)) return next();
    const session = await sessions.current(c);
    if (!session) {
      if (c.req.method === 'GET' && !c.req.path.endsWith('/events') && !c.req.path.endsWith('/live')) {
        return c.redirect(`${BASE}/sign-in`, 303);
      }
      return c.text('Sign in first.', 401);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const form = await c.req.parseBody();
      if (!sameOrigin(c) || !tokenMatches(session.csrf, form._csrf)) {
        return c.text('Refused: missing or wrong CSRF token, or another origin.', 403);
      }
    }
    c.set('session', session);
    await next();
  });

  app.get('/', (c) => c.redirect(`${BASE}/orders`, 303));
  signOutRoute(app, sessions);
  orderRoutes(app, deps, sessions);
  reviewRoutes(app, deps, sessions);
  apiKeyRoutes(app, deps, sessions);
  webhookRoutes(app, deps, sessions);
  liveRoutes(app, deps, async (c) => (await sessions.current(c)) !== undefined);

  app.notFound((c) =>
    c.html(
      <Layout title="Not found" section="orders">
        <p>
          Nothing here. <a href={`${BASE}/orders`}>Back to the orders</a>.
        </p>
      </Layout>,
      404,
    ),
  );
  app.onError((err, c) => {
    const notFound = err instanceof Error && 'code' in err && err.code === 'not_found';
    if (!notFound) deps.logger.error({ err }, 'console request failed');
    return c.html(
      <Layout title={notFound ? 'Not found' : 'Something went wrong'} section="orders">
        <p>{notFound ? err.message : 'The console could not answer; the error is logged.'}</p>
        <p>
          <a href={`${BASE}/orders`}>Back to the orders</a>
        </p>
      </Layout>,
      notFound ? 404 : 500,
    );
  });
  return app;
}
