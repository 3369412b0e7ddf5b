import type { ServerWebSocket } from 'bun';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { type Principal, type TokenSettings, verifyAccessToken } from '../../domain/auth/tokens';
import { DomainError } from '../../domain/errors';
import { getOrderRow } from '../../domain/orders/read';
import type { Logger } from '../../lib/logger';
import { TokenBucket } from '../../lib/token-bucket';
import { IdSchema } from '../schemas';
import { followOrder } from './follow';
import type { LiveTracking } from './tracking';

/** Close codes of `GET /ws` beyond RFC 6455's own (4000–4999 are the application's). */
export const WsClose = {
  /** No, a bad, an expired or a revoked token; or no auth message within WS_AUTH_TIMEOUT_SECONDS. */
  unauthorized: 4401,
  /** This user already holds LIVE_MAX_PER_USER live connections, or the process is full. */
  tooMany: 4429,
  /** The client reads too slowly: more than WS_MAX_BUFFERED_BYTES waited to be sent. */
  tooSlow: 1008,
  /** More than WS_MAX_QUEUED_MESSAGES accepted messages waited to be handled (policy violation). */
  tooManyQueued: 1008,
  goingAway: 1001,
} as const;

const auth = z.object({ type: z.literal('auth'), token: z.string().min(1).max(8192) });
const target = z.union([
  z.object({ orderId: IdSchema, all: z.undefined().optional() }),
  z.object({ all: z.literal(true), orderId: z.undefined().optional() }),
]);
const command = z.object({ type: z.enum(['subscribe', 'unsubscribe']) }).and(target);
type Target = z.infer<typeof target>;

/** What a session needs from the app. */
export interface WsSessionDeps {
  db: Db;
  live: LiveTracking;
  tokens: TokenSettings;
  logger: Logger;
}

/** The socket as far as a session uses it (Bun's ServerWebSocket). */
export type WsSocket = Pick<ServerWebSocket<unknown>, 'send' | 'close' | 'ping' | 'getBufferedAmount'>;

/**
 * One `GET /ws` connection: authenticate with the first message, then follow orders (each through
 * the same follower as the SSE stream: its status, then every change once, in order) or, for an
 * admin, every order's changes. Messages are handled one at a time, in the order they arrive.
 */
export class WsSession {
  private principal: Principal | undefined;
  private token: string | undefined;
  private release: (() => void) | undefined;
  private readonly orders = new Map<string, AbortController>();
  private stopAll: (() => void) | undefined;
  private readonly timers: ReturnType<typeof setTimeout>[] = [];
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private untrack: (() => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Accepted messages not yet handled (WS_MAX_QUEUED_MESSAGES caps them). */
  private queued = 0;
  private readonly budget: TokenBucket;
  /** True from a refused message until one is accepted: the client is told once per spell. */
  private refusing = false;
  private claim: ((userId: string) => boolean) | undefined;
  private closed = false;

  constructor(
    private readonly ws: WsSocket,
    private readonly deps: WsSessionDeps,
  ) {
    const { settings } = deps.live;
    this.budget = new TokenBucket(settings.WS_MESSAGES_PER_SECOND, settings.WS_MESSAGE_BURST);
  }

  opened(): void {
    const { live } = this.deps;
    // The socket holds a place under the process cap from its first moment, authenticated or not.
    const slot = live.slots.reserve();
    if ('refused' in slot) {
      live.refused('ws', slot.refused);
      this.close(WsClose.tooMany, 'server full, retry shortly');
      return;
    }
    this.claim = slot.claim;
    this.release = slot.release;
    this.untrack = live.track(() => this.close(WsClose.goingAway, 'server shutting down'));
    this.later(live.settings.WS_AUTH_TIMEOUT_SECONDS * 1000, () => {
      if (!this.principal) this.close(WsClose.unauthorized, 'no auth message in time');
    });
    // Pings keep proxies from timing the connection out; a client that stops answering them is
    // closed by the server's idle timeout (pongs count as traffic, silence does not).
    this.heartbeat = setInterval(() => {
      if (this.closed) return;
      this.ws.ping();
      this.recheckToken();
    }, live.heartbeatMs);
  }

  /**
   * Takes a message into the queue, within the connection's budget: over the rate it is dropped (the
   * client told once per spell), and past WS_MAX_QUEUED_MESSAGES waiting the socket is closed, so a
   * flood costs neither unbounded MySQL reads nor unbounded memory.
   */
  received(raw: string | ArrayBuffer): void {
    const { live } = this.deps;
    live.wsMessages.received++;
    if (this.closed) return;
    if (!this.budget.take()) {
      live.refusedMessage();
      if (!this.refusing) {
        this.refusing = true;
        const { WS_MESSAGES_PER_SECOND: rate, WS_MESSAGE_BURST: burst } = live.settings;
        this.send({
          type: 'error',
          status: 429,
          detail: `Too many messages: at most ${rate} a second (bursts of ${burst}); messages are dropped until then`,
        });
      }
      return;
    }
    this.refusing = false;
    if (this.queued >= live.settings.WS_MAX_QUEUED_MESSAGES) {
      this.close(WsClose.tooManyQueued, 'too many messages waiting to be handled');
      return;
    }
    this.queued++;
    this.queue = this.queue
      .then(() => this.handle(raw))
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.queued--;
      });
  }

  /** The socket is gone: stop following, give the slot back. Idempotent. */
  ended(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    clearInterval(this.heartbeat);
    for (const stop of this.orders.values()) stop.abort();
    this.orders.clear();
    this.stopAll?.();
    this.stopAll = undefined;
    this.release?.();
    this.untrack?.();
  }

  private async handle(raw: string | ArrayBuffer): Promise<void> {
    if (this.closed) return;
    let message: unknown;
    try {
      message = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
    } catch {
      message = undefined;
    }
    if (!this.principal) return this.authenticate(message);
    const parsed = command.safeParse(message);
    if (!parsed.success) {
      const type = (message as { type?: unknown } | undefined)?.type;
      this.send({
        type: 'error',
        status: 400,
        detail:
          type === 'auth'
            ? 'Already authenticated'
            : 'Expected {"type":"subscribe"|"unsubscribe","orderId"} or {"type":"subscribe"|"unsubscribe","all":true}',
      });
      return;
    }
    const m = parsed.data;
    if (m.type === 'subscribe') await this.subscribe(m);
    else this.unsubscribe(m);
  }

  private async authenticate(message: unknown): Promise<void> {
    const parsed = auth.safeParse(message);
    if (!parsed.success)
      return this.close(WsClose.unauthorized, 'first message must be {"type":"auth","token"}');
    let principal: Principal;
    try {
      principal = await verifyAccessToken(this.deps.tokens, parsed.data.token);
    } catch (err) {
      if (err instanceof DomainError) return this.close(WsClose.unauthorized, err.message);
      throw err;
    }
    if (this.closed) return;
    if (!this.claim?.(principal.userId)) {
      this.deps.live.refused('ws', 'user');
      return this.close(WsClose.tooMany, 'too many live connections for this user');
    }
    this.principal = principal;
    this.token = parsed.data.token;
    // The socket lives no longer than the token it was opened with: a client reconnects with a fresh one.
    const exp = decodeJwt(parsed.data.token).exp;
    if (exp) {
      this.later(Math.max(0, exp * 1000 - Date.now()), () =>
        this.close(WsClose.unauthorized, 'access token expired'),
      );
    }
    this.send({ type: 'authenticated', userId: principal.userId, role: principal.role });
  }

  /** A login ended (logout, reuse of a refresh token) ends its sockets too, within one heartbeat. */
  private recheckToken(): void {
    const token = this.token;
    if (!token) return;
    verifyAccessToken(this.deps.tokens, token).catch((err: unknown) => {
      if (err instanceof DomainError) this.close(WsClose.unauthorized, err.message);
    });
  }

  private async subscribe(t: Target): Promise<void> {
    const principal = this.principal as Principal;
    if (t.all) {
      if (principal.role !== 'admin') return this.send({ type: 'error', all: true, status: 403 });
      this.stopAll ??= this.deps.live.hub.followAll((c) =>
        this.send({
          type: 'change',
          orderId: c.orderId,
          from: c.from,
          to: c.to,
          at: c.at,
          ...(c.reason ? { reason: c.reason } : {}),
        }),
      );
      return;
    }
    const orderId = t.orderId as string;
    if (this.orders.has(orderId)) return;
    const max = this.deps.live.settings.WS_MAX_SUBSCRIPTIONS;
    if (this.orders.size >= max) {
      return this.send({
        type: 'error',
        orderId,
        status: 429,
        detail: `At most ${max} orders per connection`,
      });
    }
    let ownerId: string;
    try {
      this.deps.live.countRead('access');
      ownerId = (await getOrderRow(this.deps.db, orderId)).userId;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'not_found') {
        return this.send({ type: 'error', orderId, status: 404 });
      }
      throw err;
    }
    if (principal.role !== 'admin' && principal.userId !== ownerId) {
      return this.send({ type: 'error', orderId, status: 403 });
    }
    if (this.closed || this.orders.has(orderId)) return;
    const stop = new AbortController();
    this.orders.set(orderId, stop);
    const { live, db } = this.deps;
    followOrder({
      db,
      hub: live.hub,
      orderId,
      signal: stop.signal,
      onStatus: (s) => this.send({ type: 'status', orderId, status: s.status, at: s.at }),
      onChange: (e) => this.send({ type: 'change', orderId, ...e }),
      safetyRecheckMs: live.safetyRecheckMs,
      onRead: (trigger) => live.countRead(trigger),
    })
      .catch((err: unknown) => {
        this.deps.logger.warn({ err, orderId }, 'live order follower failed');
        this.send({ type: 'error', orderId, status: 503 });
      })
      .finally(() => {
        // A final order ends its subscription; the client may subscribe again (it gets the final status).
        if (this.orders.get(orderId) === stop) this.orders.delete(orderId);
      });
  }

  private unsubscribe(t: Target): void {
    if (t.all) {
      this.stopAll?.();
      this.stopAll = undefined;
      return;
    }
    const orderId = t.orderId as string;
    this.orders.get(orderId)?.abort();
    this.orders.delete(orderId);
  }

  /**
   * Sends one message, or drops a client that does not keep up: past WS_MAX_BUFFERED_BYTES unsent
   * (or when Bun itself drops the message), the socket is closed instead of buffering without bound.
   */
  private send(message: Record<string, unknown>): void {
    if (this.closed) return;
    const behind = this.ws.getBufferedAmount() > this.deps.live.settings.WS_MAX_BUFFERED_BYTES;
    if (behind || this.ws.send(JSON.stringify(message)) === 0) this.close(WsClose.tooSlow, 'client too slow');
  }

  private close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
    this.ended();
  }

  private later(ms: number, fn: () => void): void {
    // setTimeout's limit is 2^31-1 ms; a token valid for longer needs no timer before then.
    if (ms < 2 ** 31 - 1) this.timers.push(setTimeout(fn, ms));
  }

  private failed(err: unknown): void {
    this.deps.logger.error({ err }, 'websocket message failed');
    this.send({ type: 'error', status: 500, detail: 'An unexpected error occurred; it has been logged' });
  }
}
