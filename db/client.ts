import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/mysql2';
import type { PoolConnection } from 'mysql2';
import mysql from 'mysql2/promise';
import * as schema from './schema';

export interface PoolLimits {
  /** How long a caller waits for a free connection before it gets an error. */
  acquireTimeoutMs: number;
  /** How many callers may wait at once (0: no limit); past it the next one gets an error at once. */
  queueLimit: number;
}

/** What a caller gets from a pool that is used up: the API answers it with 503, a job retries. */
export class PoolExhaustedError extends Error {
  constructor(
    message: string,
    readonly code: 'POOL_ACQUIRE_TIMEOUT' | 'POOL_QUEUE_LIMIT',
  ) {
    super(message);
    this.name = 'PoolExhaustedError';
  }
}

/**
 * Takes NO_BACKSLASH_ESCAPES out of a session's sql_mode, keeping the server's other modes. mysql2
 * escapes values on the client, with backslashes (`'` as `\'`): under that mode the server reads the
 * backslash as a character and the quote as the end of the string, so a value could end its literal
 * and become SQL. Every connection runs this first (createPool), and every one-round-trip batch too.
 */
export const SAFE_SQL_MODE =
  "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

/** Prepared statements kept per connection (see createPool). */
export const PREPARED_STATEMENT_CACHE = 32;

const defaultLimits: PoolLimits = { acquireTimeoutMs: 10_000, queueLimit: 1000 };

export function createPool(
  url: string,
  connectionLimit: number,
  limits = defaultLimits,
  /** Only for {@link oneRoundTripWriter}'s own pool: every other query runs one statement. */
  multipleStatements = false,
): mysql.Pool {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit,
    multipleStatements,
    waitForConnections: true,
    queueLimit: limits.queueLimit,
    // Stored datetimes are UTC; without this mysql2 reads them in the process's zone.
    timezone: 'Z',
    dateStrings: false,
    enableKeepAlive: true,
    connectTimeout: 5000,
    supportBigNumbers: true,
    bigNumberStrings: false,
    // drizzle sends every statement as text (`query`), none prepared, so mysql2's per-connection cache
    // of prepared statements stays empty. Its LRU allocates room for `max` entries up front: at
    // mysql2's default (16,000) that is 0.5 MB of JavaScript heap per connection, ~10 MB for a full
    // pool of 20. A statement prepared some day still works.
    maxPreparedStatements: PREPARED_STATEMENT_CACHE,
    // mysql2's promise API captures a stack trace for every statement, in case it fails: ~3 % of a
    // worker's CPU under load. drizzle, which runs every statement of the app, throws its own error
    // (DrizzleQueryError, with the caller's stack and mysql2's error as its cause); only a raw
    // `pool.query` that fails loses the frames above the driver.
    trace: false,
  });
  boundAcquire(pool, limits.acquireTimeoutMs);
  // Queued on the new connection before the caller that asked for it can send anything. A connection
  // that cannot make its mode safe is not used.
  pool.pool.on('connection', (connection: PoolConnection) => {
    connection.query(SAFE_SQL_MODE, (err: unknown) => {
      if (err) connection.destroy();
    });
  });
  return pool;
}

type AcquireCallback = (err: NodeJS.ErrnoException | null, connection?: PoolConnection) => void;
const bounded = Symbol('bounded acquire');

/**
 * mysql2 (3.x) queues a caller for a connection without a time limit: a pool whose connections are
 * all held by callers that each wait for a second one jams for good. Every acquire (queries,
 * transactions, the pool's own re-queueing) goes through the core pool's `getConnection`; this bounds
 * its wait. A caller that gave up still holds its place in mysql2's queue: the connection it is
 * handed later goes straight back to the pool, and so to the next caller.
 */
function boundAcquire(pool: mysql.Pool, timeoutMs: number): void {
  const core = pool.pool;
  const acquire = core.getConnection.bind(core) as (cb: AcquireCallback) => void;
  const wrapped = (cb: AcquireCallback & { [bounded]?: true }) => {
    if (cb[bounded]) return acquire(cb);
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      cb(
        new PoolExhaustedError(
          `no database connection free within ${timeoutMs} ms (pool of ${core.config.connectionLimit})`,
          'POOL_ACQUIRE_TIMEOUT',
        ),
      );
    }, timeoutMs);
    const once: AcquireCallback & { [bounded]?: true } = (err, connection) => {
      clearTimeout(timer);
      if (settled) {
        connection?.release();
        return;
      }
      settled = true;
      if (err && /Queue limit reached/i.test(err.message)) {
        cb(
          new PoolExhaustedError(
            'too many callers are waiting for a database connection',
            'POOL_QUEUE_LIMIT',
          ),
        );
        return;
      }
      cb(err, connection);
    };
    once[bounded] = true;
    acquire(once);
  };
  (core as unknown as { getConnection: typeof wrapped }).getConnection = wrapped;
}

/** A statement as drizzle builds it (`query.toSQL()`): SQL with `?` placeholders and its values. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** Runs statements in one transaction: all of them commit, or none (it throws). */
export type TransactionWriter = (statements: Statement[]) => Promise<void>;

/**
 * A transaction in one round trip: `START TRANSACTION; …; COMMIT` sent as one multi-statement
 * query on a pool opened with `multipleStatements` (used for nothing else). Each round trip to MySQL
 * costs the API 150–220 µs of CPU on this VM; `POST /orders`'s batch of three INSERTs took five.
 * When a statement fails, MySQL runs none after it (so no COMMIT) and the connection is left inside
 * the transaction: it is rolled back before the connection goes back to the pool, or destroyed
 * (which ends the transaction on the server) when even that fails. The values are escaped by mysql2
 * exactly as for any other query with placeholders; the batch starts by making the session's
 * sql_mode safe for that escaping (SAFE_SQL_MODE: the server reads each statement of a batch after
 * running the one before, so it holds for the rest, whatever the session was set to since it opened).
 */
export function oneRoundTripWriter(pool: mysql.Pool): TransactionWriter {
  return async (statements) => {
    if (statements.length === 0) return;
    const text = [SAFE_SQL_MODE, 'START TRANSACTION', ...statements.map((s) => s.sql), 'COMMIT'].join(';\n');
    const conn = await pool.getConnection();
    let reusable = true;
    try {
      await conn.query(
        text,
        statements.flatMap((s) => s.params),
      );
    } catch (err) {
      reusable = await conn.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      throw err;
    } finally {
      if (reusable) conn.release();
      else conn.destroy();
    }
  };
}

export function createDb(pool: mysql.Pool) {
  return drizzle(pool, { schema, mode: 'default' });
}

export type Db = ReturnType<typeof createDb>;
/** A transaction handle; domain actions take `Db | Tx` where they can join a caller's transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** The cheapest question MySQL can answer: readiness asks it. */
export async function pingDatabase(db: Db): Promise<void> {
  await db.execute(sql`SELECT 1`);
}
