import type { OrderView } from '../../domain/orders/read';
import type { OrderStatus } from '../../domain/orders/status';
import type { Customer } from '../../domain/users/lookup';
import type { ConsoleSession, Flash } from '../deps';
import { money, when } from '../format';
import { BASE, Layout, Notice } from '../layout';

export interface OrdersQuery {
  status?: string;
  email?: string;
  id?: string;
  from?: string;
  to?: string;
}

/** The query string of a search, with `extra` (the cursor) added. */
export function searchHref(q: OrdersQuery, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...q, ...extra })) if (v) params.set(k, v);
  const s = params.toString();
  return `${BASE}/orders${s ? `?${s}` : ''}`;
}

/** One row per order: its full id (a link), customer, status (kept live), total, when placed. */
export function OrderRows({ orders, customers }: { orders: OrderView[]; customers: Map<string, Customer> }) {
  return (
    <table>
      <caption class="visually-hidden">Orders</caption>
      <thead>
        <tr>
          <th scope="col">Order</th>
          <th scope="col">Customer</th>
          <th scope="col">Status</th>
          <th scope="col">Total</th>
          <th scope="col">Placed</th>
        </tr>
      </thead>
      <tbody>
        {orders.map((o) => {
          const customer = customers.get(o.userId);
          return (
            <tr data-order-id={o.id}>
              <td>
                <a class="mono" href={`${BASE}/orders/${o.id}`}>
                  {o.id}
                </a>
              </td>
              <td>
                {customer ? (
                  <>
                    <span class="customer-name">{customer.name}</span>
                    <br />
                    <span class="muted">{customer.email}</span>
                  </>
                ) : (
                  o.userId
                )}
              </td>
              <td>
                <span class="status" data-order-status={o.id}>
                  {o.status}
                </span>
              </td>
              <td>{money(o.totalCents, o.currency)}</td>
              <td>{when(o.createdAt)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function OrdersPage(props: {
  session: ConsoleSession;
  query: OrdersQuery;
  counts: Record<OrderStatus, number>;
  orders: OrderView[];
  customers: Map<string, Customer>;
  nextCursor: string | null;
  error?: string;
  flash?: Flash;
}) {
  const { query, counts } = props;
  return (
    <Layout
      title="Orders"
      section="orders"
      session={props.session}
      live
      arrivals={{ kind: 'new', href: searchHref(query) }}
    >
      <Notice flash={props.flash} />
      <nav aria-label="Orders by status" class="counts">
        <ul>
          {(Object.entries(counts) as [OrderStatus, number][]).map(([status, n]) => (
            <li>
              <a href={searchHref({ status })} aria-current={query.status === status ? 'true' : undefined}>
                <span class="status">{status}</span> <strong data-count={status}>{n}</strong>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <form method="get" action={`${BASE}/orders`} class="search" aria-label="Search orders">
        <label>
          Status
          <select name="status">
            <option value="">any</option>
            {Object.keys(counts).map((s) => (
              <option value={s} selected={query.status === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Customer email
          <input name="email" type="email" value={query.email ?? ''} />
        </label>
        <label>
          Order id
          <input name="id" value={query.id ?? ''} />
        </label>
        <label>
          From (UTC day)
          <input name="from" type="date" value={query.from ?? ''} />
        </label>
        <label>
          To (UTC day)
          <input name="to" type="date" value={query.to ?? ''} />
        </label>
        <button type="submit">Search</button>
      </form>
      {props.error ? (
        <p class="notice error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.orders.length === 0 ? (
        <p>No orders match.</p>
      ) : (
        <OrderRows orders={props.orders} customers={props.customers} />
      )}
      {props.nextCursor ? (
        <p>
          <a href={searchHref(query, { cursor: props.nextCursor })} rel="next">
            Older orders
          </a>
        </p>
      ) : null}
    </Layout>
  );
}
