import type { Context, Hono } from 'hono';
import { productNames } from '../domain/catalog/names';
import { DomainError } from '../domain/errors';
import { getPaymentView } from '../domain/orders/payment';
import { getOrderView, type OrderView } from '../domain/orders/read';
import { leftToRefund } from '../domain/orders/refunds/left';
import { listRefunds } from '../domain/orders/refunds/view';
import { countOrdersByStatus, dayRange, type OrderSearch, searchOrders } from '../domain/orders/search';
import { type OrderStatus, orderStatuses } from '../domain/orders/status';
import { customersByIds } from '../domain/users/lookup';
import { jobIds } from '../queues/contract';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { actorText } from './format';
import { OrderPage } from './pages/order';
import { OrdersPage, type OrdersQuery } from './pages/orders';
import type { RefundError } from './pages/refunds';
import { refundRoutes } from './refunds';
import type { ConsoleSessions } from './session';

const PAGE_SIZE = 25;
/** Counts per status are read at most this often (a range count per status), not on every page. */
const COUNTS_TTL_MS = 5_000;

/** The people (admins, customers) who moved the order, to name them by email. */
const actorIds = (order: OrderView) =>
  order.events.flatMap((e) => (e.actor.id && e.actor.type !== 'api_key' ? [e.actor.id] : []));

const isStatus = (s: string | undefined): s is OrderStatus =>
  !!s && (orderStatuses as readonly string[]).includes(s);

/** Orders search and one order, read through the domain like the API's routes. */
export function orderRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps, sessions: ConsoleSessions): void {
  let counts: { at: number; value: Promise<Record<OrderStatus, number>> } | undefined;
  const statusCounts = () => {
    if (!counts || Date.now() - counts.at > COUNTS_TTL_MS) {
      counts = { at: Date.now(), value: countOrdersByStatus(deps.db) };
      counts.value.catch(() => {
        counts = undefined;
      });
    }
    return counts.value;
  };

  app.get('/orders', async (c) => {
    const q = c.req.query();
    const query: OrdersQuery = {
      ...(q.status ? { status: q.status } : {}),
      ...(q.email ? { email: q.email.trim() } : {}),
      ...(q.id ? { id: q.id.trim() } : {}),
      ...(q.from ? { from: q.from } : {}),
      ...(q.to ? { to: q.to } : {}),
    };
    const search: OrderSearch = {
      ...(isStatus(query.status) ? { status: query.status } : {}),
      ...(query.email ? { email: query.email } : {}),
      ...(query.id ? { orderId: query.id } : {}),
      ...dayRange(query.from, query.to),
    };
    let error: string | undefined;
    if (query.status && !isStatus(query.status)) error = `Unknown status “${query.status}”.`;
    let page = {
      data: [] as Awaited<ReturnType<typeof searchOrders>>['data'],
      nextCursor: null as string | null,
    };
    if (!error) {
      try {
        page = await searchOrders(deps.db, search, PAGE_SIZE, q.cursor || undefined);
      } catch (err) {
        if (!(err instanceof DomainError && err.code === 'validation')) throw err;
        error = err.message;
      }
    }
    const session = c.get('session');
    const [all, customers, flash] = await Promise.all([
      statusCounts(),
      customersByIds(
        deps.db,
        page.data.map((o) => o.userId),
      ),
      sessions.takeFlash(session),
    ]);
    return c.html(
      <OrdersPage
        session={session}
        query={query}
        counts={all}
        orders={page.data}
        customers={customers}
        nextCursor={page.nextCursor}
        {...(error ? { error } : {})}
        {...(flash ? { flash } : {})}
      />,
      error ? 400 : 200,
    );
  });

  /** The order's page, with a refund form's error beside that form when there is one. */
  const renderOrder = async (c: Context<ConsoleEnv>, id: string, refundError?: RefundError, status = 200) => {
    const order = await getOrderView(deps.db, id);
    const session = c.get('session');
    const [people, products, payment, refunds, flash] = await Promise.all([
      customersByIds(deps.db, [order.userId, ...actorIds(order)]),
      productNames(
        deps.db,
        order.items.map((i) => i.productId),
      ),
      getPaymentView(deps.orders, id),
      listRefunds(deps.db, id),
      refundError ? undefined : sessions.takeFlash(session),
    ]);
    const board = (step: string, jobId: string) => {
      const queue = deps.queues.partitions > 1 ? `p${deps.queues.partitionOf(id)}.${step}` : step;
      return { step, href: `/admin/queues/queue/${encodeURIComponent(queue)}/${encodeURIComponent(jobId)}` };
    };
    const jobs = [
      board('reserve', jobIds.reserve(id)),
      board('charge', jobIds.charge(id)),
      board('notify', jobIds.notify(id)),
      ...(order.events.some((e) => e.from === 'review')
        ? [board('charge', jobIds.charge(id, 'approved')), board('notify', jobIds.notify(id, 'approved'))]
        : []),
    ];
    return c.html(
      <OrderPage
        session={session}
        order={order}
        customer={people.get(order.userId)}
        people={people}
        products={products}
        payment={payment}
        refunds={refunds}
        left={leftToRefund(payment.capturedCents, order.items, refunds)}
        jobs={jobs}
        {...(refundError ? { refundError } : {})}
        {...(flash ? { flash } : {})}
      />,
      status as 200,
    );
  };

  app.get('/orders/:id', (c) => renderOrder(c, c.req.param('id')));
  refundRoutes(app, deps, sessions, renderOrder);

  // What the page's script re-renders when the order changes: data, never markup.
  app.get('/orders/:id/live', async (c) => {
    const order = await getOrderView(deps.db, c.req.param('id'));
    const people = await customersByIds(deps.db, actorIds(order));
    c.header('cache-control', 'private, no-store');
    const events = order.events.map((e) => ({ ...e, by: actorText(e.actor, people) }));
    return c.json({ id: order.id, status: order.status, events });
  });
}
