import type { Hono } from 'hono';
import { DomainError } from '../domain/errors';
import { getOrderRow, listOrdersOfUser } from '../domain/orders/read';
import { reviewQueuePage } from '../domain/orders/search';
import { customersByIds } from '../domain/users/lookup';
import { decideAndQueue } from '../wiring/review-decision';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { BASE } from './layout';
import { ReviewPage } from './pages/review';
import type { ConsoleSessions } from './session';

const QUEUE_PAGE = 25;
const HISTORY = 5;

/** Where a decision's form came from (the queue or the order's page); the console's own pages only. */
function back(referer: string | undefined): string {
  try {
    const path = referer ? new URL(referer).pathname : '';
    return /^\/console\/(review|orders\/[A-Za-z0-9_-]+)$/.test(path) ? path : `${BASE}/review`;
  } catch {
    return `${BASE}/review`;
  }
}

/**
 * The review queue, oldest first, and the one-click decisions. A decision goes through the same
 * path as `POST /orders/{id}/review` (wiring/review-decision.ts: the domain's compare-and-set, then
 * the queues); when another operator decided first, the page says what the order became.
 */
export function reviewRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps, sessions: ConsoleSessions): void {
  app.get('/review', async (c) => {
    const session = c.get('session');
    const orders = await reviewQueuePage(deps.db, QUEUE_PAGE);
    const [customers, histories, flash] = await Promise.all([
      customersByIds(
        deps.db,
        orders.map((o) => o.userId),
      ),
      Promise.all(orders.map((o) => listOrdersOfUser(deps.db, o.userId, HISTORY + 1))),
      sessions.takeFlash(session),
    ]);
    const items = orders.map((order, i) => ({
      order,
      customer: customers.get(order.userId),
      history: (histories[i]?.data ?? []).filter((h) => h.id !== order.id).slice(0, HISTORY),
    }));
    return c.html(<ReviewPage session={session} items={items} {...(flash ? { flash } : {})} />);
  });

  app.post('/review/:id', async (c) => {
    const id = c.req.param('id');
    const form = await c.req.parseBody();
    const decision = form.decision;
    const session = c.get('session');
    const to = back(c.req.header('referer'));
    if (decision !== 'approve' && decision !== 'reject') {
      await sessions.flash(session, { kind: 'error', text: 'Choose approve or reject.' });
      return c.redirect(to, 303);
    }
    try {
      await decideAndQueue(deps, id, decision, { type: 'admin', id: session.userId });
      const { status } = await getOrderRow(deps.db, id);
      await sessions.flash(session, {
        kind: 'ok',
        text: decision === 'approve' ? 'Approved.' : 'Rejected.',
        orderId: id,
        status,
      });
    } catch (err) {
      if (!(err instanceof DomainError) || (err.code !== 'conflict' && err.code !== 'not_found')) throw err;
      const status = err.code === 'conflict' ? (await getOrderRow(deps.db, id)).status : undefined;
      await sessions.flash(session, {
        kind: 'error',
        text:
          err.code === 'conflict'
            ? `Not decided: someone else already did (the order is ${status}).`
            : 'No such order.',
        ...(status ? { orderId: id, status } : {}),
      });
    }
    return c.redirect(to, 303);
  });
}
