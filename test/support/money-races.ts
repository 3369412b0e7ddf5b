import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { PaymentGateway } from '../../domain/payments/gateway';
import type { QueueName } from '../../queues/contract';
import { createHarness, type Harness } from './harness';
import { expectJson } from './problems';
import { shop } from './shop';
import { CountingGateway } from './stand-ins';
import { eventually, startTestWorkers } from './workers';

/**
 * The money races, written once and run against any gateway: `makeGateway` builds the adapter under
 * test (the simulated processor, or Stripe's adapter against its stand-in) for a harness; the suite
 * wraps it in a counter at the port and gives the API and the workers the same instance.
 */
export function moneyRaces(
  label: string,
  makeGateway: (h: Harness) => PaymentGateway | Promise<PaymentGateway>,
) {
  describe(`money races (${label})`, () => {
    let h: Harness;
    let gateway: CountingGateway;
    let admin: { id: string; token: string };
    let s: ReturnType<typeof shop>;

    beforeAll(async () => {
      h = await createHarness({ JOB_BACKOFF_MS: '50', EMAIL_RATE_MAX: '1000' });
      gateway = new CountingGateway(await makeGateway(h));
      h.deps.orders.gateway = gateway;
      admin = await h.signUp('admin');
      s = shop(h, admin);
    }, 60_000);
    afterAll(async () => {
      await h.cleanup();
    }, 60_000);

    async function withWorkers<T>(queues: QueueName[] | undefined, fn: () => Promise<T>): Promise<T> {
      const w = await startTestWorkers(h, { gateway, ...(queues ? { queues } : {}) });
      try {
        return await fn();
      } finally {
        await w.stop();
      }
    }

    /** `n` orders (one customer each: review holds are capped per customer) run until `status`. */
    async function orders(n: number, productId: string, token: string, status: string) {
      const placed: { id: string; owner: string }[] = [];
      for (let i = 0; i < n; i++) {
        const user = await h.signUp('user');
        const res = await h.json(
          'POST',
          '/orders',
          { items: [{ productId, quantity: 1 }], payment: { token } },
          user.token,
        );
        placed.push({ id: (await expectJson<{ id: string }>(res, 202)).id, owner: user.token });
      }
      for (const { id } of placed)
        await eventually(
          () => s.order(id),
          (o) => o.status === status,
          30_000,
        );
      return placed;
    }

    /** The operations the processor accepted for an order, in order, with their amounts. */
    async function ledger(id: string) {
      return (await gateway.transactions(`chg_${id}`)).map((t) => [t.type, t.amountCents] as const);
    }

    test('refund vs refund for the last cent: one 201, one 409, one refund at the gateway', async () => {
      const p = await s.product(20, 1000);
      const placed = await withWorkers(undefined, () => orders(5, p, 'tok_visa', 'completed'));
      await Promise.all(
        placed.map(async ({ id }) => {
          const answers = await Promise.all(
            [0, 1].map(() => h.json('POST', `/orders/${id}/refunds`, { amountCents: 1000 }, admin.token)),
          );
          expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
          expect(gateway.refundCalls(id)).toBe(1);
          expect(await ledger(id)).toEqual([
            ['charge', 1000],
            ['refund', 1000],
          ]);
          expect(await s.payment(id)).toMatchObject({ status: 'refunded', refundedCents: 1000 });
        }),
      );
    }, 90_000);

    test('refund vs cancel of a paid order: all of the money goes back once, never more', async () => {
      const p = await s.product(20, 1000);
      // Held at `paid`: no notify runs.
      const placed = await withWorkers(['reserve', 'charge'], () => orders(6, p, 'tok_visa', 'paid'));
      await Promise.all(
        placed.map(async ({ id, owner }, i) => {
          const refund = () => h.json('POST', `/orders/${id}/refunds`, { amountCents: 400 }, admin.token);
          const cancel = () => h.json('PUT', `/orders/${id}/cancel`, undefined, owner);
          const [r, c] =
            i % 2 === 0
              ? await Promise.all([refund(), cancel()])
              : (await Promise.all([cancel(), refund()])).reverse();
          expect(c?.status).toBe(200);
          expect([201, 409]).toContain(r?.status ?? 0);
          const pay = await eventually(
            () => s.payment(id),
            (x) => x.status === 'refunded',
          );
          expect(pay).toMatchObject({ capturedCents: 1000, refundedCents: 1000 });
          const refunds = (await ledger(id)).filter(([type]) => type === 'refund');
          expect(refunds.reduce((sum, [, cents]) => sum + cents, 0)).toBe(1000);
        }),
      );
      expect(await s.stock(p)).toEqual({ available: 20, reserved: 0 });
    }, 90_000);

    test('approve vs cancel of an authorized order: captured then refunded, or voided; never captured and kept', async () => {
      const p = await s.product(20, 700);
      // No notify: an approved order stops at `paid`, so the cancel always wins in the end, either
      // before the capture (void) or after it (refund); every third one is cancelled once it is paid.
      await withWorkers(['reserve', 'charge'], async () => {
        const placed = await orders(9, p, 'tok_riskLevelElevated', 'review');
        for (const { id } of placed)
          await eventually(
            () => s.payment(id),
            (x) => x.status === 'authorized',
          );
        await Promise.all(
          placed.map(async ({ id, owner }, i) => {
            const approve = () =>
              h.json('POST', `/orders/${id}/review`, { decision: 'approve' }, admin.token);
            const cancel = () => h.json('PUT', `/orders/${id}/cancel`, undefined, owner);
            let answers: (Response | undefined)[];
            if (i % 3 === 0) answers = await Promise.all([approve(), cancel()]);
            else if (i % 3 === 1) answers = (await Promise.all([cancel(), approve()])).reverse();
            else {
              const a = await approve();
              await eventually(
                () => s.order(id),
                (o) => o.status === 'paid',
              );
              answers = [a, await cancel()];
            }
            const [a, c] = answers;
            expect(c?.status).toBe(200);
            expect([200, 409]).toContain(a?.status ?? 0);
            expect((await s.order(id)).status).toBe('cancelled');
            const money = await eventually(
              async () => (await ledger(id)).map(([type]) => type).join(','),
              (t) => t === 'authorization,void' || t === 'authorization,capture,refund',
            );
            if (i % 3 === 2) expect(money).toBe('authorization,capture,refund');
            expect(gateway.chargeCalls(id)).toBe(0);
            expect(gateway.captureCalls(id)).toBeLessThanOrEqual(1);
            const pay = await eventually(
              () => s.payment(id),
              (x) => x.status === (money.endsWith('void') ? 'voided' : 'refunded'),
            );
            expect(pay.refundedCents).toBe(pay.capturedCents);
          }),
        );
      });
      expect(await s.stock(p)).toEqual({ available: 20, reserved: 0 });
    }, 120_000);
  });
}
