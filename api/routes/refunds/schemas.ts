import { z } from '@hono/zod-openapi';
import { IdSchema } from '../../schemas';

const Cents = z
  .number({ error: 'must be a whole number of cents' })
  .int('must be a whole number of cents')
  .positive('must be more than 0')
  .max(Number.MAX_SAFE_INTEGER);

const Lines = z
  .array(z.strictObject({ productId: IdSchema, quantity: z.number().int().min(1).max(1000) }))
  .min(1, 'must hold at least one item')
  .max(100, 'at most 100 items')
  .refine(
    (items) => new Set(items.map((i) => i.productId)).size === items.length,
    'a product may appear once',
  );

const Reason = z.string().trim().min(1).max(255).optional();

/** By amount, or by lines (with or without restock): one or the other, never both. */
export const NewRefund = z
  .union([
    z.strictObject({ amountCents: Cents, reason: Reason }),
    z.strictObject({ items: Lines, restock: z.boolean().optional(), reason: Reason }),
  ])
  .openapi('NewRefund', {
    description: '`{amountCents}` or `{items:[{productId, quantity}], restock?}` (restock defaults to true)',
  });

export const Refund = z
  .object({
    id: z.string(),
    orderId: z.string(),
    amountCents: z.number().int(),
    items: z.array(z.object({ productId: z.string(), quantity: z.number().int() })).optional(),
    restocked: z.boolean(),
    reason: z.string().optional(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    failureCode: z.string().optional(),
    createdAt: z.string(),
  })
  .openapi('Refund');

export const RefundList = z.object({ data: z.array(Refund) }).openapi('RefundList');

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7E]{1,255}$/, '1-255 visible ASCII characters')
    .optional()
    .openapi({ param: { name: 'idempotency-key', in: 'header', description: 'Idempotency-Key' } }),
});
