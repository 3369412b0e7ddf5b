import { and, eq, isNull } from 'drizzle-orm';
import { orders, payments, type PaymentStatus as StoredPaymentStatus } from '../../db/schema';
import { conflict } from '../errors';
import { chargeKey, type GatewayTransactionType } from '../payments/gateway';
import { ensurePaymentRow } from './charge-one';
import type { OrderContext } from './context';
import { getOrderRow } from './read';

export type PaymentStatus = 'unpaid' | StoredPaymentStatus;

export interface PaymentView {
  orderId: string;
  status: PaymentStatus;
  amountCents: number;
  /** What the processor took (0 while only authorized, or once voided). */
  capturedCents: number;
  refundedCents: number;
  currency: string;
  failureCode?: string;
  transactions: { type: GatewayTransactionType; amountCents: number; gatewayRef: string; at: string }[];
}

/** The statuses in which the processor holds (or held, before refunds) the captured money. */
export const capturedStatuses: ReadonlySet<StoredPaymentStatus> = new Set([
  'succeeded',
  'partially_refunded',
  'refunded',
]);

/** Pays a reserved order that was placed without payment; the caller then adds the charge → notify tail. */
export async function attachPayment(ctx: OrderContext, orderId: string, token: string): Promise<void> {
  const order = await getOrderRow(ctx.db, orderId);
  const [res] = await ctx.db
    .update(orders)
    .set({ paymentToken: token, reservedUntil: null, updatedAt: new Date() })
    .where(and(eq(orders.id, orderId), eq(orders.status, 'reserved'), isNull(orders.paymentToken)));
  if (res.affectedRows !== 1) {
    throw conflict(
      order.paymentToken
        ? 'This order is already paid for or being paid'
        : `The order is ${order.status}; only a reserved, unpaid order can be paid`,
    );
  }
  await ensurePaymentRow(ctx.db, order);
}

export async function getPaymentView(ctx: OrderContext, orderId: string): Promise<PaymentView> {
  const order = await getOrderRow(ctx.db, orderId);
  const [payment] = await ctx.db.select().from(payments).where(eq(payments.orderId, orderId)).limit(1);
  const transactions = await ctx.gateway.transactions(chargeKey(orderId), payment?.gatewayRef ?? undefined);
  const status: PaymentStatus = payment ? payment.status : order.paymentToken ? 'pending' : 'unpaid';
  return {
    orderId,
    status,
    amountCents: order.totalCents,
    capturedCents: payment && capturedStatuses.has(payment.status) ? payment.amountCents : 0,
    refundedCents: order.refundedCents,
    currency: order.currency,
    ...(payment?.failureCode && status === 'failed' ? { failureCode: payment.failureCode } : {}),
    transactions: transactions.map((t) => ({ ...t, at: t.at.toISOString() })),
  };
}
