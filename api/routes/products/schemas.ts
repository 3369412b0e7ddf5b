import { z } from '@hono/zod-openapi';

// A price stays far below 2^53 so that totals of up to 100 items x 1,000 units remain exact integers.
export const MAX_PRICE_CENTS = 100_000_000_00;

export const Product = z
  .object({
    id: z.string(),
    sku: z.string(),
    name: z.string(),
    priceCents: z.number().int(),
    currency: z.string(),
  })
  .openapi('Product');
