import { and, eq, or } from 'drizzle-orm';
import type { Db, Tx } from '../../db/client';
import { isDuplicateKey } from '../../db/errors';
import { write } from '../../db/raw';
import { gatewayTransactions } from '../../db/schema';
import { newId } from '../../lib/ids';
import {
  type ChargeRequest,
  type ChargeResult,
  type GatewayTransaction,
  type GatewayTransactionType,
  GatewayUnavailableError,
  type PaymentGateway,
  type PaymentOperation,
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

type LedgerRow = typeof gatewayTransactions.$inferSelect;

/**
 * A payment processor simulation that behaves like a real one where it matters: answers by test
 * token, keeps its own durable ledger keyed by idempotency key (a repeated call returns the first
 * answer), refuses to capture a voided authorization, to void a captured one or to refund past what
 * it captured, and can be slow or flaky on demand.
 */
export class SimulatedGateway implements PaymentGateway {
  readonly name = 'simulated';
  readonly testMode = true;
  constructor(
    private readonly db: Db,
    readonly options: SimulatedGatewayOptions,
  ) {}

  charge(req: ChargeRequest): Promise<ChargeResult> {
    return this.open('charge', req);
  }

  authorize(req: ChargeRequest): Promise<ChargeResult> {
    return this.open('authorization', req);
  }

  capture(op: PaymentOperation): Promise<{ ref: string } | null> {
    return this.operate(op, (payment, later) => {
      if (payment.type !== 'authorization') return null;
      if (later.some((r) => r.type === 'void')) return null;
      const captured = later.find((r) => r.type === 'capture');
      if (captured) return { ref: captured.ref };
      return { type: 'capture', amountCents: payment.amountCents };
    });
  }

  void(op: PaymentOperation): Promise<{ ref: string } | null> {
    return this.operate(op, (payment, later) => {
      if (payment.type !== 'authorization') return null;
      if (later.some((r) => r.type === 'capture')) return null;
      const voided = later.find((r) => r.type === 'void');
      if (voided) return { ref: voided.ref };
      return { type: 'void', amountCents: payment.amountCents };
    });
  }

  refund(req: RefundRequest): Promise<{ ref: string } | null> {
    return this.operate(req, (payment, later) => {
      const captured =
        payment.type === 'charge'
          ? payment.amountCents
          : (later.find((r) => r.type === 'capture')?.amountCents ?? 0);
      const refunded = later.filter((r) => r.type === 'refund').reduce((n, r) => n + r.amountCents, 0);
      const left = captured - refunded;
      const amount = req.amountCents ?? left;
      if (left <= 0 || amount <= 0 || amount > left) return null;
      return { type: 'refund', amountCents: amount };
    });
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

  /** A new payment (a charge or an authorization): one statement in the usual case. */
  private async open(type: 'charge' | 'authorization', req: ChargeRequest): Promise<ChargeResult> {
    await this.weather();
    // Insert first, read only on a duplicate key: a new charge (the usual case) is one statement, and a
    // repeated key still gets the first answer back.
    const code = declines[req.token] ?? (req.token.startsWith('tok_') ? null : 'invalid_token');
    const row = {
      idempotencyKey: req.idempotencyKey,
      ref: newId('gw'),
      type,
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
      const first = await this.find(this.db, req.idempotencyKey);
      if (first) return asResult(first);
      throw err;
    }
    return asResult(row);
  }

  /**
   * An operation on an existing payment (capture, void, refund), decided with the payment's ledger
   * locked: two operations on one payment take turns, so a capture and a void racing never both
   * succeed and two refunds never pass what was captured. A repeated key gets its first answer.
   */
  private async operate(
    op: PaymentOperation,
    decide: (
      payment: LedgerRow,
      later: LedgerRow[],
    ) => { ref: string } | { type: GatewayTransactionType; amountCents: number } | null,
  ): Promise<{ ref: string } | null> {
    await this.weather();
    const previous = await this.find(this.db, op.idempotencyKey);
    if (previous) return { ref: previous.ref };
    // No payment, nothing to act on; checked before the locking read, which on a missing key would
    // lock a gap of the ledger (and hold up new charges whose keys fall in it).
    if ((await this.find(this.db, op.chargeIdempotencyKey))?.outcome !== 'succeeded') return null;
    try {
      return await this.db.transaction(async (tx) => {
        const [payment] = await tx
          .select()
          .from(gatewayTransactions)
          .where(eq(gatewayTransactions.idempotencyKey, op.chargeIdempotencyKey))
          .for('update');
        // Plain reads from here: their snapshot is taken after the payment's lock was granted, so
        // they see every operation on it that committed before (they all take that lock first).
        const again = await this.find(tx, op.idempotencyKey);
        if (again) return { ref: again.ref };
        if (payment?.outcome !== 'succeeded') return null;
        const later = await tx
          .select()
          .from(gatewayTransactions)
          .where(
            and(
              eq(gatewayTransactions.paymentRef, op.chargeIdempotencyKey),
              eq(gatewayTransactions.outcome, 'succeeded'),
            ),
          );
        const decided = decide(
          payment,
          later.filter((r) => r.idempotencyKey !== payment.idempotencyKey),
        );
        if (decided === null || 'ref' in decided) return decided;
        const ref = newId('gw');
        await tx.insert(gatewayTransactions).values({
          idempotencyKey: op.idempotencyKey,
          ref,
          type: decided.type,
          outcome: 'succeeded',
          paymentRef: op.chargeIdempotencyKey,
          amountCents: decided.amountCents,
          currency: payment.currency,
          at: new Date(),
        });
        return { ref };
      });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const first = await this.find(this.db, op.idempotencyKey);
      if (first) return { ref: first.ref };
      throw err;
    }
  }

  private async find(db: Db | Tx, key: string) {
    const [row] = await db
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
