import { and, eq, or } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { isDuplicateKey } from '../../db/errors';
import { write } from '../../db/raw';
import { gatewayTransactions } from '../../db/schema';
import { newId } from '../../lib/ids';
import {
  type ChargeRequest,
  type ChargeResult,
  type GatewayTransaction,
  GatewayUnavailableError,
  type PaymentGateway,
  type RefundRequest,
} from './gateway';

export interface SimulatedGatewayOptions {
  latencyMs: number;
  /** 0..1: share of calls that fail as if the processor were down (before anything is recorded). */
  failureRate: number;
}

const declines: Record<string, string> = {
  tok_chargeDeclined: 'card_declined',
  tok_chargeDeclinedInsufficientFunds: 'insufficient_funds',
};

/**
 * A payment processor simulation that behaves like a real one where it matters: answers by test
 * token, keeps its own durable ledger keyed by idempotency key (a repeated call returns the first
 * answer), and can be slow or flaky on demand.
 */
export class SimulatedGateway implements PaymentGateway {
  readonly name = 'simulated';
  constructor(
    private readonly db: Db,
    readonly options: SimulatedGatewayOptions,
  ) {}

  async charge(req: ChargeRequest): Promise<ChargeResult> {
    await this.weather();
    // Insert first, read only on a duplicate key: a new charge (the usual case) is one statement, and a
    // repeated key still gets the first answer back.
    const code = declines[req.token] ?? (req.token.startsWith('tok_') ? null : 'invalid_token');
    const row = {
      idempotencyKey: req.idempotencyKey,
      ref: newId('gw'),
      type: 'charge' as const,
      outcome: code ? ('declined' as const) : ('succeeded' as const),
      declineCode: code,
      paymentRef: req.idempotencyKey,
      amountCents: req.amountCents,
      currency: req.currency,
      at: new Date(),
    };
    try {
      // Built by hand (db/raw.ts): one per charge, the worker's most frequent statement.
      await write(
        this.db,
        'INSERT INTO `gateway_transactions` (`idempotency_key`, `ref`, `type`, `outcome`, `decline_code`, ' +
          '`payment_ref`, `amount_cents`, `currency`, `at`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          row.idempotencyKey,
          row.ref,
          row.type,
          row.outcome,
          row.declineCode,
          row.paymentRef,
          row.amountCents,
          row.currency,
          row.at,
        ],
      );
    } catch (err) {
      // Two calls with one key raced: the processor keeps the first and answers both with it.
      if (!isDuplicateKey(err)) throw err;
      const first = await this.find(req.idempotencyKey);
      if (first) return asResult(first);
      throw err;
    }
    return asResult(row);
  }

  async refund(req: RefundRequest): Promise<{ ref: string } | null> {
    await this.weather();
    const previous = await this.find(req.idempotencyKey);
    if (previous) return { ref: previous.ref };
    const charge = await this.find(req.chargeIdempotencyKey);
    if (charge?.outcome !== 'succeeded') return null;
    const ref = newId('gw');
    try {
      await this.db.insert(gatewayTransactions).values({
        idempotencyKey: req.idempotencyKey,
        ref,
        type: 'refund',
        outcome: 'succeeded',
        paymentRef: req.chargeIdempotencyKey,
        amountCents: charge.amountCents,
        currency: charge.currency,
        at: new Date(),
      });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const first = await this.find(req.idempotencyKey);
      if (first) return { ref: first.ref };
      throw err;
    }
    return { ref };
  }

  async transactions(chargeIdempotencyKey: string): Promise<GatewayTransaction[]> {
    const rows = await this.db
      .select()
      .from(gatewayTransactions)
      .where(
        and(
          eq(gatewayTransactions.outcome, 'succeeded'),
          or(
            eq(gatewayTransactions.idempotencyKey, chargeIdempotencyKey),
            eq(gatewayTransactions.paymentRef, chargeIdempotencyKey),
          ),
        ),
      )
      .orderBy(gatewayTransactions.at);
    return rows.map((r) => ({ type: r.type, amountCents: r.amountCents, gatewayRef: r.ref, at: r.at }));
  }

  private async find(key: string) {
    const [row] = await this.db
      .select()
      .from(gatewayTransactions)
      .where(eq(gatewayTransactions.idempotencyKey, key))
      .limit(1);
    return row;
  }

  private async weather(): Promise<void> {
    if (this.options.latencyMs > 0) await Bun.sleep(this.options.latencyMs);
    if (this.options.failureRate > 0 && Math.random() < this.options.failureRate) {
      throw new GatewayUnavailableError('simulated gateway: transient failure');
    }
  }
}

function asResult(row: {
  outcome: 'succeeded' | 'declined';
  ref: string;
  declineCode: string | null;
}): ChargeResult {
  return row.outcome === 'succeeded'
    ? { outcome: 'succeeded', ref: row.ref }
    : { outcome: 'declined', code: row.declineCode ?? 'card_declined' };
}
