import type { PaymentView } from '../../domain/orders/payment';
import type { OrderView } from '../../domain/orders/read';
import type { LeftToRefund } from '../../domain/orders/refunds/left';
import type { RefundView } from '../../domain/orders/refunds/view';
import type { Customer } from '../../domain/users/lookup';
import type { ConsoleSession, Flash } from '../deps';
import { actorText, money, when } from '../format';
import { BASE, Csrf, Layout, Notice } from '../layout';
import { type RefundError, RefundsSection } from './refunds';

export interface JobLink {
  step: string;
  href: string;
}

/** The order's timeline; the page's script appends to it live, as text. */
export function Timeline({ order, people }: { order: OrderView; people: Map<string, Customer> }) {
  return (
    <table>
      <caption>Timeline</caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">From</th>
          <th scope="col">To</th>
          <th scope="col">Reason</th>
          <th scope="col">By</th>
        </tr>
      </thead>
      <tbody data-timeline={order.id}>
        {order.events.map((e) => (
          <tr>
            <td>{when(e.at)}</td>
            <td>{e.from ?? '—'}</td>
            <td>{e.to}</td>
            <td>{e.reason ?? ''}</td>
            <td>{actorText(e.actor, people)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function OrderPage(props: {
  session: ConsoleSession;
  order: OrderView;
  customer: Customer | undefined;
  /** The people named on the timeline (its actors), by id. */
  people: Map<string, Customer>;
  products: Map<string, { name: string; sku: string }>;
  payment: PaymentView;
  refunds: RefundView[];
  left: LeftToRefund;
  refundError?: RefundError;
  jobs: JobLink[];
  flash?: Flash;
}) {
  const { order, customer, payment } = props;
  return (
    <Layout title={`Order ${order.id}`} section="orders" session={props.session} live>
      <Notice flash={props.flash} />
      <dl class="facts" data-order-id={order.id}>
        <dt>Order</dt>
        <dd class="mono">{order.id}</dd>
        <dt>Status</dt>
        <dd>
          <span class="status" data-order-status={order.id}>
            {order.status}
          </span>
          {order.failureReason ? <span class="muted"> ({order.failureReason})</span> : null}
          {order.disputed ? <strong class="status danger-text"> disputed</strong> : null}
        </dd>
        <dt>Customer</dt>
        <dd>
          {customer ? (
            <>
              <span class="customer-name">{customer.name}</span> ·{' '}
              <a href={`${BASE}/orders?email=${encodeURIComponent(customer.email)}`}>{customer.email}</a>
            </>
          ) : (
            order.userId
          )}
        </dd>
        <dt>Total</dt>
        <dd>{money(order.totalCents, order.currency)}</dd>
        <dt>Refunded</dt>
        <dd data-refunded-cents={order.refundedCents}>{money(order.refundedCents, order.currency)}</dd>
        <dt>Placed</dt>
        <dd>{when(order.createdAt)}</dd>
      </dl>
      {order.status === 'review' ? (
        <form method="post" action={`${BASE}/review/${order.id}`} class="decide">
          <Csrf session={props.session} />
          <button type="submit" name="decision" value="approve">
            Approve
          </button>{' '}
          <button type="submit" name="decision" value="reject" class="danger">
            Reject
          </button>
        </form>
      ) : null}

      <h2>Items</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Quantity</th>
            <th scope="col">Unit price</th>
            <th scope="col">Line total</th>
          </tr>
        </thead>
        <tbody>
          {order.items.map((item) => {
            const product = props.products.get(item.productId);
            return (
              <tr>
                <td>
                  <span class="product-name">{product?.name ?? item.productId}</span>
                  <br />
                  <span class="muted mono">{product?.sku ?? ''}</span>
                </td>
                <td>{item.quantity}</td>
                <td>{money(item.unitPriceCents, order.currency)}</td>
                <td>{money(item.unitPriceCents * item.quantity, order.currency)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <h2>Risk</h2>
      {order.risk ? (
        <dl class="facts">
          <dt>Score</dt>
          <dd>{order.risk.score.toFixed(3)}</dd>
          <dt>Decision</dt>
          <dd>{order.risk.decision}</dd>
          <dt>Reasons</dt>
          <dd>{order.risk.reasons.length > 0 ? order.risk.reasons.join(', ') : 'none'}</dd>
          <dt>Model</dt>
          <dd>{order.risk.model}</dd>
        </dl>
      ) : (
        <p>Not screened yet.</p>
      )}

      <h2>Payment</h2>
      <p>
        Payment <span class="status">{payment.status}</span>
        {payment.failureCode ? ` (${payment.failureCode})` : ''} for{' '}
        {money(payment.amountCents, payment.currency)}
      </p>
      {payment.transactions.length > 0 ? (
        <table>
          <caption>Payment operations</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Operation</th>
              <th scope="col">Amount</th>
              <th scope="col">Gateway reference</th>
            </tr>
          </thead>
          <tbody>
            {payment.transactions.map((t) => (
              <tr>
                <td>{when(t.at)}</td>
                <td>{t.type}</td>
                <td>{money(t.amountCents, payment.currency)}</td>
                <td class="mono">{t.gatewayRef}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p>No payment operations.</p>
      )}

      {props.refunds.length > 0 || props.payment.capturedCents > 0 ? (
        <RefundsSection
          session={props.session}
          order={order}
          refunds={props.refunds}
          left={props.left}
          names={props.products}
          {...(props.refundError ? { error: props.refundError } : {})}
        />
      ) : (
        <>
          <h2>Refunds</h2>
          <p>Nothing was captured on this order, so there is nothing to refund.</p>
        </>
      )}

      <h2>History</h2>
      <Timeline order={order} people={props.people} />

      <h2>Jobs</h2>
      <ul>
        {props.jobs.map((j) => (
          <li>
            <a href={j.href}>{`${j.step} job in the queue board`}</a>
          </li>
        ))}
      </ul>
    </Layout>
  );
}
