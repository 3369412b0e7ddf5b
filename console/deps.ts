import type { Context } from 'hono';
import type { Db } from '../db/client';
import type { OrderContext } from '../domain/orders/context';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { RedisClient } from '../lib/redis';
import type { PartitionedQueues } from '../queues/partitioned';
import type { Metrics } from '../wiring/metrics';

/** A committed change of one order, as the live channel tells it. */
export interface OrderChange {
  orderId: string;
  from: string | null;
  to: string;
  at: string;
  reason?: string | undefined;
}

/** The sign-in budgets of `POST /auth/login`, handed in by the API so that both spend the same ones. */
export interface SignInGate {
  /** Spends one attempt before the password is checked; the seconds to wait when a budget is spent. */
  admit(ip: string, email: string): Promise<{ retryAfterSeconds: number } | undefined>;
  /** A correct password gives back what the attempt spent. */
  succeeded(ip: string, email: string): Promise<void>;
}

/**
 * What the console is built from. It imports nothing of the API: the API hands it the sign-in
 * budgets, the feed of order changes (its live hub) and how it reads a client's address.
 */
export interface ConsoleDeps {
  config: Config;
  db: Db;
  redis: RedisClient;
  logger: Logger;
  orders: OrderContext;
  queues: PartitionedQueues;
  metrics?: Metrics;
  signIn: SignInGate;
  /** Calls `listener` with every committed order change until the returned function is called. */
  changes(listener: (change: OrderChange) => void): () => void;
  /**
   * A slot for one live stream under the API's connection caps (LIVE_MAX_PER_USER, per process);
   * `end` is called to close it at shutdown. Undefined when a cap is full.
   */
  openStream(userId: string, end: () => void): { close: () => void } | undefined;
  clientIp(c: Context): string;
}

/** What a signed-in request carries. */
export interface ConsoleSession {
  id: string;
  userId: string;
  email: string;
  csrf: string;
  flash?: Flash;
}

/** A one-time message shown on the next page (after a form's redirect). */
export interface Flash {
  kind: 'ok' | 'error';
  text: string;
  /** An order the message is about: shown with its live status. */
  orderId?: string;
  status?: string;
}

export type ConsoleEnv = { Variables: { session: ConsoleSession } };
