import type { Context, Hono } from 'hono';
import { DomainError } from '../domain/errors';
import { getOrderRow } from '../domain/orders/read';
import type { RefundInput } from '../domain/orders/refunds/create';
import { requestAndSettleRefund } from '../wiring/refund-request';
import type { ConsoleDeps, ConsoleEnv } from './deps';
import { money } from './format';
import { BASE } from './layout';
import type { RefundError } from './pages/refunds';
import type { ConsoleSessions } from './session';

type Form = Record<string, string | File | (string | File)[]>;

const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');

/** "12.5" or "12.50" → 1250; anything else (negative, three decimals, letters) is refused. */
export function parseCents(value: string): number | undefined {
  const m = /^(\d{1,10})(?:[.,](\d{1,2}))?$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

/** The refund the form asks for, or the error to show beside it. */
function readForm(form: Form, orderId: string, adminId: string): RefundInput | RefundError {
  const kind = form.kind === 'lines' ? 'lines' : 'amount';
  const reason = text(form.reason).slice(0, 255);
  const key = text(form.key).slice(0, 100);
  const base = {
    orderId,
    actor: { type: 'admin' as const, id: adminId },
    ...(reason ? { reason } : {}),
    ...(key ? { idempotencyKey: `console-${key}` } : {}),
  };
  if (kind === 'amount') {
    const cents = parseCents(text(form.amount));
    if (!cents) return { form: 'amount', text: 'Amount: a positive amount such as 5 or 5.00.' };
    return { ...base, amountCents: cents };
  }
  const items: { productId: string; quantity: number }[] = [];
  for (const [name, value] of Object.entries(form)) {
    if (!name.startsWith('qty:')) continue;
    const quantity = Number(text(value) || '0');
    if (!Number.isInteger(quantity) || quantity < 0) {
      return { form: 'lines', text: `Units: ${text(value)} is not a whole number of units.` };
    }
    if (quantity > 0) items.push({ productId: name.slice(4), quantity });
  }
  if (items.length === 0) return { form: 'lines', text: 'Units: choose at least one unit to return.' };
  return { ...base, items, restock: form.restock === 'on' };
}

/**
 * Refunds by amount or by lines, through the same path as `POST /orders/{id}/refunds`
 * (wiring/refund-request.ts). A refusal is shown beside the form that asked, on the order's page.
 */
export function refundRoutes(
  app: Hono<ConsoleEnv>,
  deps: ConsoleDeps,
  sessions: ConsoleSessions,
  renderOrder: (
    c: Context<ConsoleEnv>,
    id: string,
    error: RefundError,
    status: 400 | 409 | 422,
  ) => Promise<Response>,
): void {
  app.post('/orders/:id/refunds', async (c) => {
    const id = c.req.param('id');
    const session = c.get('session');
    const asked = readForm(await c.req.parseBody(), id, session.userId);
    if ('form' in asked) return renderOrder(c, id, asked, 400);
    try {
      const { refund } = await requestAndSettleRefund(deps, asked);
      const { currency } = await getOrderRow(deps.db, id);
      await sessions.flash(session, {
        kind: refund.status === 'failed' ? 'error' : 'ok',
        text: `Refund ${refund.id} of ${money(refund.amountCents, currency)}: ${refund.status}.`,
      });
      return c.redirect(`${BASE}/orders/${id}`, 303);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const form = 'amountCents' in asked ? 'amount' : 'lines';
      if (err.code === 'not_found') throw err;
      const detail = err.errors.map((e) => e.message).join('; ');
      const status = err.code === 'conflict' ? 409 : err.code === 'unprocessable' ? 422 : 400;
      return renderOrder(c, id, { form, text: detail ? `${err.message} (${detail})` : err.message }, status);
    }
  });
}
