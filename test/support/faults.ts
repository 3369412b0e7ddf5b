import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { sql } from 'drizzle-orm';
import type { Pool } from 'mysql2/promise';
import type { Db } from '../../db/client';
import { ForwardingGateway } from '../../domain/payments/forwarding-gateway';
import {
  type ChargeRequest,
  type ChargeResult,
  GatewayUnavailableError,
  type PaymentGateway,
  type RefundRequest,
} from '../../domain/payments/gateway';
import type { Harness } from './harness';

/**
 * Wraps a real gateway and injects a fault around its charge call. `before` faults fail the call
 * before the processor sees it; `after` faults let the processor take the money and then lose the
 * answer (a crash between the call and our commit).
 */
export class FaultyGateway extends ForwardingGateway {
  override readonly name = 'faulty';
  /** Charge calls made so far (1-based numbers are passed to `fault`). */
  calls = 0;
  /** Charge calls in progress right now. */
  inFlight = 0;
  /** Every charge call as the processor received it (key and amount), in order. */
  readonly requests: { idempotencyKey: string; amountCents: number }[] = [];

  constructor(
    inner: PaymentGateway,
    private readonly fault: (call: number) => 'before' | 'after' | 'none',
  ) {
    super(inner);
  }

  override async charge(req: ChargeRequest): Promise<ChargeResult> {
    const call = ++this.calls;
    this.requests.push({ idempotencyKey: req.idempotencyKey, amountCents: req.amountCents });
    const fault = this.fault(call);
    if (fault === 'before') throw new GatewayUnavailableError(`injected: charge call ${call} failed`);
    this.inFlight++;
    try {
      const result = await this.inner.charge(req);
      if (fault === 'after')
        throw new GatewayUnavailableError(`injected: answer to charge call ${call} lost`);
      return result;
    } finally {
      this.inFlight--;
    }
  }
}

export interface WorkerProcess {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  output(): string;
}

const repoRoot = new URL('../..', import.meta.url).pathname;

/** Starts `bun run workers/main.ts` against the harness's database and prefix, as a real separate process. */
export function spawnWorkerProcess(
  h: Harness,
  env: Record<string, string> = {},
  args: string[] = [],
): WorkerProcess {
  // A test counting gateway calls across processes preloads the call log (see gatewayCallLog).
  const preload = env.GATEWAY_CALL_LOG ? ['--preload=./test/support/gateway-call-log.ts'] : [];
  const proc = Bun.spawn([process.execPath, ...preload, 'run', 'workers/main.ts', ...args], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      DATABASE_URL: h.config.DATABASE_URL,
      REDIS_URL: h.config.REDIS_URL,
      QUEUE_PREFIX: h.config.QUEUE_PREFIX,
      JWT_SECRET: h.config.jwtSecret,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      RISK_REVIEW_AT: String(h.config.RISK_REVIEW_AT),
      RISK_REJECT_AT: String(h.config.RISK_REJECT_AT),
      ...env,
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let text = '';
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  return { proc, output: () => text };
}

/** SIGKILLs a worker process (if it still runs) and waits until it is gone. */
export async function killProcess(p: WorkerProcess): Promise<void> {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await p.proc.exited;
}

export interface TcpProxy {
  url: string;
  /** Drops every connection and refuses new ones: the service is gone, as far as its clients can tell. */
  cut(): Promise<void>;
  /** Accepts connections again on the same port: the service is back. */
  restore(): Promise<void>;
}

/** A TCP proxy in front of a real service (Redis), so a test can take it away from one client only. */
export async function tcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port, protocol } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    url: `${protocol}//127.0.0.1:${address.port}`,
    async cut() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async restore() {
      if (server.listening) return;
      await new Promise<void>((resolve) => server.listen(address.port, '127.0.0.1', resolve));
    },
  };
}

/**
 * A charge that times out on our side and lands at the processor later: `charge` answers with a
 * timeout at once and keeps the request; `land()` then makes the charge at the real gateway, as a
 * processor that received the request before the connection dropped would.
 */
export class LateChargeGateway extends ForwardingGateway {
  override readonly name = 'late-charge';
  private held: ChargeRequest[] = [];

  constructor(inner: PaymentGateway) {
    super(inner);
  }

  override async charge(req: ChargeRequest): Promise<ChargeResult> {
    this.held.push(req);
    throw new GatewayUnavailableError('injected: the charge call timed out (the processor still has it)');
  }

  /** The held charges reach the processor now. */
  async land(): Promise<void> {
    const held = this.held;
    this.held = [];
    for (const req of held) await this.inner.charge(req);
  }
}

/** A gateway whose refund answer is held back until `release()`: a slow "not charged" reply. */
export class HeldRefundGateway extends ForwardingGateway {
  override readonly name = 'held-refund';
  private gate = Promise.withResolvers<void>();
  /** Resolves once a refund call has its answer from the processor and is waiting to return it. */
  readonly answered = Promise.withResolvers<void>();

  constructor(inner: PaymentGateway) {
    super(inner);
  }

  override async refund(req: RefundRequest): Promise<{ ref: string } | null> {
    const answer = await this.inner.refund(req);
    this.answered.resolve();
    await this.gate.promise;
    return answer;
  }

  release(): void {
    this.gate.resolve();
  }
}

/**
 * The database handle the app uses, whose chosen transactions lose their connection: the first
 * statement inside such a transaction finds its MySQL session killed (a real `KILL` from another
 * connection, as a failover or a DBA would), so the transaction fails as a whole. `kill(n)` picks
 * them by number (1-based, in the order they start); `started` counts them, `killed` lists the
 * numbers that were killed.
 */
export function killingTransactions(db: Db, admin: Pool, kill: (n: number) => boolean) {
  const record = { started: 0, killed: [] as number[] };
  const handle = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
      const transaction: Db['transaction'] = (fn, config) => {
        const n = ++record.started;
        return target.transaction(async (tx) => {
          if (kill(n)) {
            const [rows] = (await tx.execute(sql`SELECT CONNECTION_ID() AS id`)) as unknown as [
              { id: number }[],
            ];
            await admin.query('KILL ?', [rows[0]?.id]);
            record.killed.push(n);
          }
          return fn(tx);
        }, config);
      };
      return transaction;
    },
  });
  return { db: handle, record };
}

/**
 * Counts the gateway calls worker processes make (give `env` to spawnWorkerProcess): charge and
 * refund calls per key, read from the file the preloaded test/support/gateway-call-log.ts appends to.
 */
export function gatewayCallLog() {
  const file = join(tmpdir(), `orderflow-gateway-calls-${crypto.randomUUID()}.log`);
  writeFileSync(file, '');
  const calls = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [kind, key] = line.split(' ');
        return { kind: kind as 'charge' | 'refund', key: key ?? '' };
      });
  return {
    env: { GATEWAY_CALL_LOG: file },
    calls,
    chargeCalls: (orderId: string) =>
      calls().filter((c) => c.kind === 'charge' && c.key === `chg_${orderId}`).length,
    refundCalls: (orderId: string) =>
      calls().filter((c) => c.kind === 'refund' && c.key === `chg_${orderId}`).length,
    remove: () => rmSync(file, { force: true }),
  };
}

export interface CommitCuttingProxy {
  url: string;
  /**
   * The next multi-statement batch that ends in COMMIT is forwarded to the server, its answer held
   * back, and once `committed()` says the server has applied it the client's connection is cut: the
   * client knows it sent COMMIT and never learns whether it ran (an ambiguous failure).
   */
  arm(committed: () => Promise<boolean>): void;
  /** Resolves when an armed cut has happened. */
  readonly cut: Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy in front of MySQL that can lose the answer to one COMMIT (see {@link CommitCuttingProxy}). */
export async function commitCuttingProxy(target: string): Promise<CommitCuttingProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let armed: (() => Promise<boolean>) | undefined;
  const cutDone = Promise.withResolvers<void>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    let holding = false;
    let tail = '';
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      // The batch's text ends with COMMIT (db/client.ts); keep a few bytes in case it spans two chunks.
      const seen = tail + chunk.toString('latin1');
      tail = seen.slice(-16);
      const committed = armed;
      if (committed && /COMMIT\s*$/.test(seen)) {
        armed = undefined;
        holding = true;
        void (async () => {
          const deadline = Date.now() + 10_000;
          while (!(await committed()) && Date.now() < deadline) await Bun.sleep(10);
          client.destroy();
          upstream.destroy();
          cutDone.resolve();
        })();
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!holding) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);
  return {
    url: url.toString(),
    arm(committed) {
      armed = committed;
    },
    cut: cutDone.promise,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
