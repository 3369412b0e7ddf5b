import { and, eq, isNull } from 'drizzle-orm';
import { orders, payments } from '../../db/schema';
import { conflict } from '../errors';
import { chargeKey } from '../payments/gateway';
import { ensurePaymentRow } from './charge-one';
import type { OrderContext } from './context';
import { getOrderRow } from './read';

export type PaymentStatus = 'unpaid' | 'pending' | 'succeeded' | 'failed' | 'refunded';

export interface PaymentView {
  orderId: string;
  status: PaymentStatus;
  amountCents: number;
  currency: string;
  failureCode?: string;
  transactions: { type: 'charge' | 'refund'; amountCents: number; gatewayRef: string; at: string }[];
}

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
  const transactions = await ctx.gateway.transactions(chargeKey(orderId));
  const status: PaymentStatus = payment ? payment.status : order.paymentToken ? 'pending' : 'unpaid';
  return {
    orderId,
    status,
    amountCents: order.totalCents,
    currency: order.currency,
    ...(payment?.failureCode && status === 'failed' ? { failureCode: payment.failureCode } : {}),
    transactions: transactions.map((t) => ({ ...t, at: t.at.toISOString() })),
  };
}
