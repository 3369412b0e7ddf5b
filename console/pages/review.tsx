import type { OrderView } from '../../domain/orders/read';
import type { Customer } from '../../domain/users/lookup';
import type { ConsoleSession, Flash } from '../deps';
import { money, when } from '../format';
import { BASE, Csrf, Layout, Notice } from '../layout';

export interface ReviewItem {
  order: OrderView;
  customer: Customer | undefined;
  /** The customer's latest orders besides this one, newest first. */
  history: OrderView[];
}

/** Orders held for a decision, oldest first, each with its score, reasons and the customer's history. */
export function ReviewPage(props: { session: ConsoleSession; items: ReviewItem[]; flash?: Flash }) {
  return (
    <Layout
      title="Review queue"
      section="review"
      session={props.session}
      live
      arrivals={{ kind: 'review', href: `${BASE}/review` }}
    >
      <Notice flash={props.flash} />
      {props.items.length === 0 ? <p>No orders wait for a decision.</p> : null}
      {props.items.map(({ order, customer, history }) => (
        <section class="card" data-order-id={order.id} aria-labelledby={`h-${order.id}`}>
          <h2 id={`h-${order.id}`}>
            <a class="mono" href={`${BASE}/orders/${order.id}`}>
              {order.id}
            </a>
          </h2>
          <p>
            <span class="status" data-order-status={order.id}>
              {order.status}
            </span>{' '}
            · {money(order.totalCents, order.currency)} · waiting since {when(order.updatedAt)}
          </p>
          <p>
            Customer: <span class="customer-name">{customer?.name ?? order.userId}</span>{' '}
            <span class="muted">{customer?.email ?? ''}</span>
          </p>
          <p>
            Risk score <strong>{order.risk ? order.risk.score.toFixed(3) : 'n/a'}</strong>; reasons:{' '}
            {order.risk && order.risk.reasons.length > 0 ? order.risk.reasons.join(', ') : 'none'}
          </p>
          <p>
            Recent orders of this customer:{' '}
            {history.length === 0
              ? 'none'
              : history
                  .map((h) => `${h.status} ${money(h.totalCents, h.currency)} (${when(h.createdAt)})`)
                  .join('; ')}
          </p>
          <form method="post" action={`${BASE}/review/${order.id}`} class="decide">
            <Csrf session={props.session} />
            <button type="submit" name="decision" value="approve" aria-label={`Approve ${order.id}`}>
              Approve
            </button>{' '}
            <button
              type="submit"
              name="decision"
              value="reject"
              class="danger"
              aria-label={`Reject ${order.id}`}
            >
              Reject
            </button>
          </form>
        </section>
      ))}
    </Layout>
  );
}
