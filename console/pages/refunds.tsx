import type { OrderView } from '../../domain/orders/read';
import type { LeftToRefund } from '../../domain/orders/refunds/left';
import type { RefundView } from '../../domain/orders/refunds/view';
import type { ConsoleSession } from '../deps';
import { money, when } from '../format';
import { BASE, Csrf } from '../layout';

/** A refund form's error, shown beside the form that caused it. */
export interface RefundError {
  form: 'amount' | 'lines';
  text: string;
}

/**
 * The order's refunds, what is left to refund, and the two ways to refund: an amount, or lines
 * (restocked by default). Each form carries a key made when the page was drawn: sending it twice
 * (a double click, a reload) makes one refund.
 */
export function RefundsSection(props: {
  session: ConsoleSession;
  order: OrderView;
  refunds: RefundView[];
  left: LeftToRefund;
  names: Map<string, { name: string }>;
  error?: RefundError;
}) {
  const { order, left } = props;
  const key = crypto.randomUUID();
  const errorOf = (form: RefundError['form']) =>
    props.error?.form === form ? (
      <p class="notice error" role="alert" id={`refund-${form}-error`}>
        {props.error.text}
      </p>
    ) : null;
  return (
    <section aria-labelledby="refunds">
      <h2 id="refunds">Refunds</h2>
      <p>
        Refunded <strong data-refunded>{money(order.refundedCents, order.currency)}</strong>; left to refund{' '}
        <strong data-left>{money(left.cents, order.currency)}</strong>.
      </p>
      {props.refunds.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Refund</th>
              <th scope="col">When</th>
              <th scope="col">Amount</th>
              <th scope="col">Lines</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {props.refunds.map((r) => (
              <tr>
                <td class="mono">{r.id}</td>
                <td>{when(r.createdAt)}</td>
                <td>{money(r.amountCents, order.currency)}</td>
                <td>
                  {(r.items ?? [])
                    .map((i) => `${i.quantity} × ${props.names.get(i.productId)?.name ?? i.productId}`)
                    .join('; ')}
                  {r.restocked ? ' (restocked)' : ''}
                </td>
                <td>
                  {r.status}
                  {r.failureCode ? ` (${r.failureCode})` : ''}
                </td>
                <td>{r.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div class="refund-forms">
        <form method="post" action={`${BASE}/orders/${order.id}/refunds`} class="stack narrow">
          <h3>By amount</h3>
          <Csrf session={props.session} />
          <input type="hidden" name="kind" value="amount" />
          <input type="hidden" name="key" value={key} />
          {errorOf('amount')}
          <label for="refund-amount">{`Amount (${order.currency}, at most ${money(left.cents, order.currency)})`}</label>
          <input id="refund-amount" name="amount" inputmode="decimal" placeholder="5.00" required />
          <label for="refund-amount-reason">Reason</label>
          <input id="refund-amount-reason" name="reason" maxlength={255} />
          <button type="submit">Refund amount</button>
        </form>
        <form method="post" action={`${BASE}/orders/${order.id}/refunds`} class="stack narrow">
          <h3>By lines</h3>
          <Csrf session={props.session} />
          <input type="hidden" name="kind" value="lines" />
          <input type="hidden" name="key" value={key} />
          {errorOf('lines')}
          {order.items.map((item) => {
            const units = left.units.get(item.productId) ?? 0;
            const name = props.names.get(item.productId)?.name ?? item.productId;
            return (
              <>
                <label
                  for={`qty-${item.productId}`}
                >{`${name}: units to return (${units} of ${item.quantity} left)`}</label>
                <input
                  id={`qty-${item.productId}`}
                  name={`qty:${item.productId}`}
                  type="number"
                  min={0}
                  max={units}
                  value="0"
                />
              </>
            );
          })}
          <label class="check">
            <input type="checkbox" name="restock" value="on" checked /> Put the units back in stock
          </label>
          <label for="refund-lines-reason">Reason</label>
          <input id="refund-lines-reason" name="reason" maxlength={255} />
          <button type="submit">Refund lines</button>
        </form>
      </div>
    </section>
  );
}
