import type { Hono } from 'hono';
import { DomainError } from '../domain/errors';
import { systemResolve } from '../domain/webhooks/addresses';
import { listDeliveries } from '../domain/webhooks/deliveries';
import {
  createEndpoint,
  deleteEndpoint,
  endpointView,
  getEndpointRow,
  listEndpoints,
  updateEndpoint,
} from '../domain/webhooks/endpoints';
import { retryWebhookDelivery } from '../wiring/webhook-retry';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { BASE } from './layout';
import { DeliveriesPage, WebhooksPage } from './pages/webhooks';
import type { ConsoleSessions } from './session';

const PAGE = 25;

const asList = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String);
const messages = (err: DomainError) =>
  err.errors.length ? err.errors.map((e) => `${e.field}: ${e.message}`) : [err.message];

/**
 * Webhook endpoints (add with the secret shown once, disable or enable, delete) and each one's
 * deliveries with "Retry", through the same domain functions as `/webhook-endpoints` and the same
 * retry path as `POST /webhook-deliveries/{id}/retry` (wiring/webhook-retry.ts).
 */
export function webhookRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps, sessions: ConsoleSessions): void {
  const guard = { allowPrivate: deps.config.WEBHOOK_ALLOW_PRIVATE, resolve: systemResolve };

  app.get('/webhooks', async (c) => {
    const session = c.get('session');
    const [endpoints, flash] = await Promise.all([listEndpoints(deps.db), sessions.takeFlash(session)]);
    return c.html(<WebhooksPage session={session} endpoints={endpoints} {...(flash ? { flash } : {})} />);
  });

  app.post('/webhooks', async (c) => {
    const session = c.get('session');
    const form = await c.req.parseBody({ all: true });
    const url = typeof form.url === 'string' ? form.url.trim() : '';
    const description = typeof form.description === 'string' ? form.description.trim().slice(0, 200) : '';
    const events = asList(form.events);
    try {
      const created = await createEndpoint(
        deps.db,
        deps.config.piiKey,
        { url, events, ...(description ? { description } : {}) },
        guard,
      );
      deps.logger.info({ endpointId: created.id, admin: session.userId }, 'webhook endpoint created');
      return c.html(
        <WebhooksPage session={session} endpoints={await listEndpoints(deps.db)} created={created} />,
        201,
      );
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return c.html(
        <WebhooksPage session={session} endpoints={await listEndpoints(deps.db)} errors={messages(err)} />,
        err.code === 'validation' ? 400 : 422,
      );
    }
  });

  app.post('/webhooks/:id/status', async (c) => {
    const session = c.get('session');
    const form = await c.req.parseBody();
    const status = form.status === 'enabled' ? 'enabled' : 'disabled';
    const view = await updateEndpoint(deps.db, c.req.param('id'), { status }, guard);
    await sessions.flash(session, { kind: 'ok', text: `${view.url} is ${view.status}.` });
    return c.redirect(`${BASE}/webhooks`, 303);
  });

  app.post('/webhooks/:id/delete', async (c) => {
    const session = c.get('session');
    await deleteEndpoint(deps.db, c.req.param('id'));
    await sessions.flash(session, { kind: 'ok', text: 'Endpoint deleted; nothing more is sent to it.' });
    return c.redirect(`${BASE}/webhooks`, 303);
  });

  app.get('/webhooks/:id', async (c) => {
    const session = c.get('session');
    const endpoint = endpointView(await getEndpointRow(deps.db, c.req.param('id')));
    const cursor = c.req.query('cursor');
    const [page, flash] = await Promise.all([
      listDeliveries(deps.db, endpoint.id, { limit: PAGE, ...(cursor ? { cursor } : {}) }),
      sessions.takeFlash(session),
    ]);
    return c.html(
      <DeliveriesPage
        session={session}
        endpoint={endpoint}
        deliveries={page.data}
        nextCursor={page.nextCursor}
        {...(flash ? { flash } : {})}
      />,
    );
  });

  app.post('/webhooks/deliveries/:id/retry', async (c) => {
    const session = c.get('session');
    const form = await c.req.parseBody();
    const endpoint =
      typeof form.endpoint === 'string' && /^whe_[0-9a-f]+$/.test(form.endpoint) ? form.endpoint : '';
    try {
      await retryWebhookDelivery(deps, c.req.param('id'));
      await sessions.flash(session, { kind: 'ok', text: 'Queued: it is sent again shortly.' });
    } catch (err) {
      if (!(err instanceof DomainError) || err.code === 'not_found') throw err;
      await sessions.flash(session, { kind: 'error', text: err.message });
    }
    return c.redirect(endpoint ? `${BASE}/webhooks/${endpoint}` : `${BASE}/webhooks`, 303);
  });
}
