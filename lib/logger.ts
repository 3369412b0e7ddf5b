import pino from 'pino';
import { activeTraceIds, tracingOn } from './tracing';

export type Logger = pino.Logger;

/** Every line written inside a span names it (`traceId`, `spanId`): the way from a log line to its trace. */
const traceMixin = () => activeTraceIds() ?? {};

/**
 * JSON lines to stdout, or to `destination` (tests read the lines back). With tracing on (started
 * before the logger is made, by wiring/startup.ts `preflight`), each line carries the active span's ids.
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'orderflow', pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError },
    redact: {
      paths: [
        '*.password',
        '*.passwordHash',
        '*.refreshToken',
        '*.accessToken',
        '*.authorization',
        '*.phone',
        '*.paymentToken',
      ],
      remove: true,
    },
    ...(tracingOn() ? { mixin: traceMixin } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Keys of a database error that hold the statement's values (mysql2's inlined `sql`, drizzle's `params`). */
const valueKeys = new Set(['sql', 'params', 'values', 'parameters', 'sqlMessage']);
const MAX_CAUSES = 8;

/**
 * pino's error serializer, minus the values of failed queries. A database error carries the
 * statement's parameters (a password hash, an email, a payment token) in `params`/`sql`, in
 * drizzle's message ("Failed query: … params: …") and in MySQL's own ("Duplicate entry
 * 'ada@example.com' for key …"), and pino copies all of them, and the cause chain's messages, into
 * the line. Such an error is logged with its statement (placeholders only), code and stack frames;
 * its values are dropped and quoted literals in its messages are masked.
 */
export function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return pino.stdSerializers.err(err as Error);
  const serialized = pino.stdSerializers.err(sanitize(err, 0)) as unknown as Record<string, unknown>;
  serialized.type = err.constructor?.name ?? err.name;
  return serialized;
}

function isDatabaseError(err: Error): boolean {
  const e = err as Error & { code?: unknown };
  return (
    [...valueKeys, 'query', 'sqlState'].some((k) => k in e) ||
    (typeof e.code === 'string' && e.code.startsWith('ER_'))
  );
}

function sanitize(err: Error, depth: number): Error {
  const database = isDatabaseError(err);
  const message = database ? maskValues(err.message) : err.message;
  const copy = new Error(message);
  copy.name = err.name;
  copy.stack = database ? restack(err, message) : err.stack;
  const source = err as unknown as Record<string, unknown>;
  const target = copy as unknown as Record<string, unknown>;
  for (const key of Object.keys(err)) {
    if (key === 'cause' || (database && valueKeys.has(key))) continue;
    target[key] =
      database && key === 'query' && typeof source[key] === 'string' ? maskValues(source[key]) : source[key];
  }
  if (err.cause instanceof Error && depth < MAX_CAUSES) copy.cause = sanitize(err.cause, depth + 1);
  return copy;
}

/** drizzle appends "params: …" to its message; MySQL quotes the offending value. */
function maskValues(text: string): string {
  const withoutParams = text.replace(/\n?\s*params:[\s\S]*$/, '');
  return withoutParams.replace(/'(?:[^'\\]|\\.|'')*'/g, "'…'");
}

/** The stack's frames under the masked message (a stack starts with "<name>: <message>"). */
function restack(err: Error, message: string): string | undefined {
  const frames = err.stack?.split('\n').filter((line) => /^\s+at\s/.test(line)) ?? [];
  return [`${err.name}: ${message}`, ...frames].join('\n');
}
