import { z } from '@hono/zod-openapi';
import { actorTypes } from '../../../domain/actor';
import { orderStatuses } from '../../../domain/orders/status';

export const PaymentToken = z
  .string()
  // A card token (tok_visa) or, with Stripe, a PaymentMethod id (pm_card_visa, pm_1Q…).
  .regex(
    /^(tok|pm)_[A-Za-z0-9_]{1,60}$/,
    'must be a card token or PaymentMethod such as tok_visa or pm_card_visa',
  );

export const Status = z.enum(orderStatuses);

export const Order = z
  .object({
    id: z.string(),
    userId: z.string(),
    status: Status,
    items: z.array(
      z.object({ productId: z.string(), quantity: z.number().int(), unitPriceCents: z.number().int() }),
    ),
    totalCents: z.number().int(),
    refundedCents: z.number().int().openapi({ description: 'What went back to the customer after the sale' }),
    currency: z.string(),
    failureReason: z.string().optional(),
    risk: z
      .object({
        score: z.number().min(0).max(1),
        decision: z.enum(['approve', 'review', 'reject']),
        reasons: z.array(z.string()),
        model: z.string(),
      })
      .optional()
      .openapi({ description: 'Fraud screening, once the order has been screened (before its charge)' }),
    disputed: z
      .literal(true)
      .optional()
      .openapi({ description: 'The customer disputed the payment with their bank' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    events: z.array(
      z.object({
        from: Status.nullable(),
        to: Status,
        at: z.string(),
        reason: z.string().optional(),
        actor: z.object({ type: z.enum(actorTypes), id: z.string().optional() }).openapi({
          description: "Who caused the change: the user's, admin's or API key's id; none for system",
        }),
      }),
    ),
  })
  .openapi('Order');

export const OrderPage = z
  .object({ data: z.array(Order), nextCursor: z.string().nullable() })
  .openapi('OrderPage');
