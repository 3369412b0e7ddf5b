import { expect } from 'bun:test';
import type { Harness } from './harness';

export interface OrderBody {
  id: string;
  userId: string;
  status: string;
  totalCents: number;
  failureReason?: string;
  disputed?: boolean;
  events: { from: string | null; to: string; at: string; reason?: string }[];
}

/** Small API helpers so a test reads as the story it tells. */
export function shop(h: Harness, admin: { token: string }) {
  return {
    async product(available: number, priceCents = 1500): Promise<string> {
      const res = await h.json(
        'POST',
        '/products',
        {
          sku: `SKU-${crypto.randomUUID().slice(0, 12)}`,
          name: 'Thing',
          priceCents,
          currency: 'EUR',
          available,
        },
        admin.token,
      );
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    },
    async stock(productId: string): Promise<{ available: number; reserved: number }> {
      const [rows] = await h.pool.query('SELECT available, reserved FROM products WHERE id = ?', [productId]);
      const [row] = rows as { available: number; reserved: number }[];
      if (!row) throw new Error(`no product ${productId}`);
      return { available: row.available, reserved: row.reserved };
    },
    async place(
      token: string,
      productId: string,
      quantity: number,
      payment: string | null = 'tok_visa',
      headers = {},
    ) {
      return h.json(
        'POST',
        '/orders',
        { items: [{ productId, quantity }], ...(payment ? { payment: { token: payment } } : {}) },
        token,
        headers,
      );
    },
    async order(id: string, token = admin.token): Promise<OrderBody> {
      const res = await h.json('GET', `/orders/${id}`, undefined, token);
      expect(res.status).toBe(200);
      return (await res.json()) as OrderBody;
    },
    async payment(id: string, token = admin.token) {
      const res = await h.json('GET', `/payment/status/${id}`, undefined, token);
      expect(res.status).toBe(200);
      return (await res.json()) as {
        status: string;
        amountCents: number;
        capturedCents: number;
        refundedCents: number;
        failureCode?: string;
        transactions: { type: string; amountCents: number; gatewayRef: string }[];
      };
    },
    async notificationsOf(orderId: string) {
      const [rows] = await h.pool.query(
        'SELECT channel, status, dedupe_key AS dedupeKey FROM notifications WHERE order_id = ?',
        [orderId],
      );
      return rows as { channel: string; status: string; dedupeKey: string }[];
    },
  };
}
