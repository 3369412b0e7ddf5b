import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { DomainError, type DomainErrorCode, type FieldError } from '../domain/errors';
import { GatewayUnavailableError } from '../domain/payments/gateway';
import { CircuitOpenError } from '../domain/resilience';
import { activeTraceIds } from '../lib/tracing';

/** RFC 9457 problem details: the only shape an error leaves the API in. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  /** The request's trace, when tracing is on: a customer's error report leads an operator to it. */
  traceId?: string;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const statusOf: Record<DomainErrorCode, ContentfulStatusCode> = {
  validation: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

/** An error that already knows its HTTP answer; thrown from middleware and handlers alike. */
export class ProblemError extends HTTPException {
  constructor(
    readonly problemStatus: ContentfulStatusCode,
    detail: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(problemStatus, { message: detail });
  }
}

export function problemResponse(
  c: Context,
  status: ContentfulStatusCode,
  detail: string,
  extra: Partial<Problem> = {},
  headers: Record<string, string> = {},
): Response {
  const body: Problem = {
    type: `https://orderflow.dev/problems/${status}`,
    title: titles[status] ?? 'Error',
    status,
    detail,
    instance: c.req.path,
    ...extra,
  };
  const traceId = activeTraceIds()?.traceId;
  if (traceId) body.traceId = traceId;
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
}

export function fieldErrors(error: ZodError): FieldError[] {
  return issueErrors(error.issues, []);
}

type Issue = ZodError['issues'][number];

function issueErrors(issues: readonly Issue[], prefix: readonly PropertyKey[]): FieldError[] {
  return issues.flatMap((issue) => {
    const at = [...prefix, ...issue.path];
    const path = at.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({ field: path ? `${path}.${k}` : k, message: 'unknown field' }));
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // A union (e.g. `{available}` or `{delta}`) names the fields of the alternative(s) that came
      // closest, fewest issues first, instead of one "(body): Invalid input" that names nothing.
      const fewest = Math.min(...issue.errors.map((branch) => branch.length));
      const closest = issue.errors.filter((branch) => branch.length === fewest);
      const errors = closest.flatMap((branch) => issueErrors(branch, at));
      const unique = new Map(errors.map((e) => [`${e.field}\u0000${e.message}`, e]));
      if (unique.size > 0) return [...unique.values()];
    }
    return [{ field: path || '(body)', message: issue.message }];
  });
}

export function validationProblem(error: ZodError, where: string): ProblemError {
  const errors = fieldErrors(error);
  const fields = [...new Set(errors.map((e) => e.field))].join(', ');
  return new ProblemError(400, `Invalid ${where}: ${fields}`, errors);
}

/** Maps anything thrown to a problem response; a 500 never carries the error's text or stack. */
export function toProblem(c: Context, err: unknown, onUnexpected: (err: unknown) => void): Response {
  if (err instanceof ProblemError) {
    return problemResponse(
      c,
      err.problemStatus,
      err.message,
      err.errors ? { errors: err.errors } : {},
      err.headers,
    );
  }
  if (err instanceof DomainError) {
    const status = statusOf[err.code];
    return problemResponse(c, status, err.message, err.errors.length ? { errors: err.errors } : {});
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    // Hono's own JSON parser says "Malformed JSON in request body"; its body limit answers 413.
    return problemResponse(c, status, err.message || titles[status] || 'Error');
  }
  // The payment processor away (a read that asks it, GET /payment/status) or its breaker open: the
  // caller's request was fine, the answer is "not now", as for MySQL or Redis below.
  if (err instanceof GatewayUnavailableError || err instanceof CircuitOpenError) {
    const open = err instanceof CircuitOpenError;
    return problemResponse(
      c,
      503,
      open
        ? `A provider Orderflow depends on (${err.breaker}) is unavailable; retry shortly`
        : 'The payment gateway is unavailable; retry shortly',
      {},
      { 'retry-after': String(open ? Math.max(1, Math.ceil(err.retryAfterMs / 1000)) : 5) },
    );
  }
  if (isUnavailable(err)) {
    return problemResponse(
      c,
      503,
      'A backing service (MySQL or Redis) is unavailable; retry shortly',
      {},
      { 'retry-after': '5' },
    );
  }
  onUnexpected(err);
  return problemResponse(c, 500, 'An unexpected error occurred; it has been logged');
}

const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'EPIPE',
  'ENOTFOUND',
  // db/client.ts: every pooled connection is busy (the pool's acquire timeout or queue limit).
  'POOL_ACQUIRE_TIMEOUT',
  'POOL_QUEUE_LIMIT',
]);

function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: string }).code;
    if (code && unavailableCodes.has(code)) return true;
    const message = (e as { message?: string }).message ?? '';
    if (
      /Connection is closed|Stream isn't writeable|enableOfflineQueue|max retries per request|Pool is closed/i.test(
        message,
      )
    )
      return true;
  }
  return false;
}
