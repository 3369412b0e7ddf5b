import type { Transports } from '../../domain/notifications/notifications';
import type {
  EmailMessage,
  EmailTransport,
  SendResult,
  SmsMessage,
  SmsTransport,
} from '../../domain/notifications/transports';
import { ForwardingGateway } from '../../domain/payments/forwarding-gateway';
import type {
  ChargeRequest,
  ChargeResult,
  PaymentGateway,
  PaymentOperation,
  RefundRequest,
} from '../../domain/payments/gateway';

const bump = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);

/** Where a gated charge waits: before the processor sees it, or after it took the money. */
export type GatePoint = 'before' | 'after';

interface Latch {
  promise: Promise<void>;
  resolve: () => void;
}

function latch(): Latch {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Gate {
  point: GatePoint;
  reached: Latch;
  open: Latch;
}

/**
 * Wraps the real gateway behind its port and counts what the app asks of it, per order: charge and
 * refund calls (calls, not ledger rows: a unique key cannot hide a second call). A test can gate
 * one order's charge, learn when it is in flight, act, and then let it go on.
 */
export class CountingGateway extends ForwardingGateway {
  override readonly name = 'counting';
  /** Charge calls per charge idempotency key (`chg_<orderId>`). */
  readonly charges = new Map<string, number>();
  /** Refund calls per charge idempotency key. */
  readonly refunds = new Map<string, number>();
  /** Authorize, capture and void calls per charge idempotency key. */
  readonly authorizations = new Map<string, number>();
  readonly captures = new Map<string, number>();
  readonly voids = new Map<string, number>();
  /** Refund calls in progress right now, and the most seen at once (do refunds overlap?). */
  refundsInFlight = 0;
  maxRefundsInFlight = 0;
  private readonly gates = new Map<string, Gate>();
  private readonly captureGates = new Map<string, Gate>();
  /**
   * Runs inside each charge call, after it left the app and before the processor records it (so a
   * test can land a cancel while the charge is in flight).
   */
  during?: (orderId: string) => Promise<void>;

  constructor(inner: PaymentGateway) {
    super(inner);
  }

  chargeCalls(orderId: string): number {
    return this.charges.get(`chg_${orderId}`) ?? 0;
  }

  refundCalls(orderId: string): number {
    return this.refunds.get(`chg_${orderId}`) ?? 0;
  }

  authorizeCalls(orderId: string): number {
    return this.authorizations.get(`chg_${orderId}`) ?? 0;
  }

  captureCalls(orderId: string): number {
    return this.captures.get(`chg_${orderId}`) ?? 0;
  }

  voidCalls(orderId: string): number {
    return this.voids.get(`chg_${orderId}`) ?? 0;
  }

  totalCharges(): number {
    return [...this.charges.values()].reduce((a, b) => a + b, 0);
  }

  /** The next charge of this order stops at `point` until `release(orderId)`. */
  gate(orderId: string, point: GatePoint): void {
    this.gates.set(`chg_${orderId}`, {
      point,
      reached: latch(),
      open: latch(),
    });
  }

  /** Resolves when the gated charge of this order is held at its gate (so: in flight). */
  inFlight(orderId: string): Promise<void> {
    const gate = this.gates.get(`chg_${orderId}`);
    if (!gate) throw new Error(`no gate for ${orderId}`);
    return gate.reached.promise;
  }

  release(orderId: string): void {
    this.gates.get(`chg_${orderId}`)?.open.resolve();
  }

  releaseAll(): void {
    for (const gate of [...this.gates.values(), ...this.captureGates.values()]) gate.open.resolve();
  }

  /**
   * The next capture of this order stops before the processor sees it; resolves once it is held
   * there (in flight), and `releaseCapture` lets it go on.
   */
  gateCapture(orderId: string): Promise<void> {
    const gate: Gate = { point: 'before', reached: latch(), open: latch() };
    this.captureGates.set(`chg_${orderId}`, gate);
    return gate.reached.promise;
  }

  releaseCapture(orderId: string): void {
    this.captureGates.get(`chg_${orderId}`)?.open.resolve();
  }

  override async charge(req: ChargeRequest): Promise<ChargeResult> {
    const key = req.idempotencyKey;
    this.charges.set(key, (this.charges.get(key) ?? 0) + 1);
    const gate = this.gates.get(key);
    if (gate?.point === 'before') await this.hold(gate);
    await this.during?.(key.replace(/^chg_/, ''));
    const result = await this.inner.charge(req);
    if (gate?.point === 'after') await this.hold(gate);
    return result;
  }

  override authorize(req: ChargeRequest): Promise<ChargeResult> {
    bump(this.authorizations, req.idempotencyKey);
    return this.inner.authorize(req);
  }

  override async capture(op: PaymentOperation): Promise<{ ref: string } | null> {
    bump(this.captures, op.chargeIdempotencyKey);
    const gate = this.captureGates.get(op.chargeIdempotencyKey);
    if (gate) await this.hold(gate);
    return this.inner.capture(op);
  }

  override void(op: PaymentOperation): Promise<{ ref: string } | null> {
    bump(this.voids, op.chargeIdempotencyKey);
    return this.inner.void(op);
  }

  override async refund(req: RefundRequest): Promise<{ ref: string } | null> {
    const key = req.chargeIdempotencyKey;
    this.refunds.set(key, (this.refunds.get(key) ?? 0) + 1);
    this.maxRefundsInFlight = Math.max(this.maxRefundsInFlight, ++this.refundsInFlight);
    try {
      return await this.inner.refund(req);
    } finally {
      this.refundsInFlight--;
    }
  }

  private async hold(gate: Gate): Promise<void> {
    gate.reached.resolve();
    await gate.open.promise;
  }
}

/** A provider send as the stand-in saw it. */
export interface Sent {
  channel: 'email' | 'sms';
  to: string;
  text: string;
  idempotencyKey: string;
  at: number;
}

/**
 * Stands in for the email and SMS providers (third parties), behind the real transport ports, and
 * records every send: a test counts what reached the provider, not rows in our own tables.
 */
export class CountingTransports implements Transports {
  readonly sent: Sent[] = [];
  readonly email: EmailTransport;
  readonly sms: SmsTransport;

  constructor() {
    const record = (channel: Sent['channel'], msg: EmailMessage | SmsMessage): SendResult => {
      this.sent.push({
        channel,
        to: msg.to,
        text: msg.text,
        idempotencyKey: msg.idempotencyKey,
        at: Date.now(),
      });
      return { providerRef: `${channel}_${this.sent.length}` };
    };
    this.email = { name: 'counting-email', send: async (msg: EmailMessage) => record('email', msg) };
    this.sms = { name: 'counting-sms', send: async (msg: SmsMessage) => record('sms', msg) };
  }

  /** Sends whose text names this order (every outcome message does). */
  of(orderId: string, channel?: Sent['channel']): Sent[] {
    return this.sent.filter((s) => s.text.includes(orderId) && (!channel || s.channel === channel));
  }
}
