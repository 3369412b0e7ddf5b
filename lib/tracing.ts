/**
 * The app's side of tracing, on `@opentelemetry/api` alone (a leaf: no SDK). wiring/tracing.ts
 * registers the SDK and calls `setTracing(true)` when OTEL_EXPORTER_OTLP_ENDPOINT is set; until then
 * every helper here is one boolean test and a direct call, so tracing off costs nothing per job.
 */
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  isSpanContextValid,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

let on = false;
let cachedTracer: Tracer | undefined;

/** Called once by wiring/tracing.ts after it registered the SDK (and by tests). */
export function setTracing(value: boolean): void {
  on = value;
  cachedTracer = undefined;
}

export const tracingOn = (): boolean => on;

/** Looked up once after the SDK is registered, not through the global provider on every span. */
const tracer = (): Tracer => {
  cachedTracer ??= trace.getTracer('orderflow');
  return cachedTracer;
};

/** The active span's ids, for a log line or a problem answer; undefined with tracing off or outside a span. */
export function activeTraceIds(): { traceId: string; spanId: string } | undefined {
  if (!on) return undefined;
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  // A trace that was not sampled is never exported: pointing a customer at it would lead nowhere.
  if ((traceFlags & 1) === 0) return undefined;
  return { traceId, spanId };
}

/** The active span when tracing is on (a job's `process` span, to put the order's attributes on). */
export function activeSpan(): Span | undefined {
  return on ? trace.getActiveSpan() : undefined;
}

/** The active context when tracing is on (captured where a batch item is handed over). */
export function captureContext(): Context | undefined {
  return on ? context.active() : undefined;
}

/**
 * The active context as BullMQ's telemetry metadata (bullmq-otel's format: the injected W3C headers,
 * as JSON), so that a job added later or in a batch continues this trace; undefined when off.
 */
export function propagationMetadata(from?: Context): string | undefined {
  if (!on) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(from ?? context.active(), carrier);
  return carrier.traceparent ? JSON.stringify(carrier) : undefined;
}

/** The context a `propagationMetadata` string describes (a span parented on it joins that trace). */
export function contextFromMetadata(metadata: string): Context {
  return propagation.extract(ROOT_CONTEXT, JSON.parse(metadata) as Record<string, string>);
}

/** Marks a span failed with the error's type only: an error's message may quote values (an email). */
export function failSpan(span: Span, err: unknown): void {
  failSpanAs(span, err instanceof Error ? err.name : typeof err);
}

/** Marks a span failed with an error type of the caller's (`timeout`, an HTTP status, `ECONNREFUSED`). */
export function failSpanAs(span: Span, type: string): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

export interface SpanOptions {
  kind?: SpanKind;
  links?: Link[];
  /** The parent; the active context when absent. */
  parent?: Context;
}

/** Runs `fn` in a new active span (ended when `fn` settles); with tracing off, just runs `fn`. */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  options: SpanOptions = {},
): Promise<T> {
  if (!on) return fn(undefined);
  const { parent = context.active(), ...rest } = options;
  return tracer().startActiveSpan(name, { attributes, ...rest }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The items of the batch running in this context: each item's key and the context it came from. */
const BATCH_ITEMS = createContextKey('orderflow.batch-items');

/**
 * Runs a group-committed batch in its own trace: one batch serves many orders' traces, so its span is
 * a root that links to each item's span (a link, not a parent). Code inside the batch can still put a
 * span in one item's own trace with `itemSpan` / `spanEach`.
 */
export function batchSpan<K, T>(
  name: string,
  items: { key: K; context: Context | undefined }[],
  fn: () => Promise<T>,
): Promise<T> {
  if (!on) return fn();
  const contexts = new Map<unknown, Context>();
  const links: Link[] = [];
  for (const { key, context: ctx } of items) {
    if (!ctx) continue;
    contexts.set(key, ctx);
    const span = trace.getSpan(ctx);
    if (span) links.push({ context: span.spanContext() });
  }
  return inSpan(
    name,
    { 'batch.size': items.length },
    () => context.with(context.active().setValue(BATCH_ITEMS, contexts), fn),
    { parent: ROOT_CONTEXT, links },
  );
}

/** The context an item of the running batch came from (its own trace); the active one otherwise. */
function itemContext(key: unknown): Context {
  const active = context.active();
  const items = active.getValue(BATCH_ITEMS) as Map<unknown, Context> | undefined;
  return items?.get(key) ?? active;
}

/** A span in one batch item's own trace (the gateway call for one order of a charge batch). */
export function itemSpan<T>(
  key: unknown,
  name: string,
  attributes: Attributes,
  fn: (span: Span | undefined) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  if (!on) return fn(undefined);
  return inSpan(name, attributes, fn, { parent: itemContext(key), kind });
}

/**
 * The W3C `traceparent` of the span of `ctx`, for a row that a later process continues the trace from
 * (an outbox event: its webhook deliveries are spans of the trace that made it); undefined without one.
 */
function traceParentOf(ctx: Context): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}`;
}

/**
 * The `traceparent` of a batch item's own context (its order's step span, not the batch's span), or of
 * the active span outside a batch; undefined when tracing is off: no lookup, no string made.
 */
export function itemTraceParent(key: unknown): string | undefined {
  return on ? traceParentOf(itemContext(key)) : undefined;
}

/** The `traceparent` of the active span; undefined when tracing is off or outside a span. */
export function activeTraceParent(): string | undefined {
  return on ? traceParentOf(context.active()) : undefined;
}

/** The context a stored `traceparent` names (a span parented on it joins that trace); undefined if malformed. */
export function contextFromTraceParent(traceParent: string): Context | undefined {
  const ctx = propagation.extract(ROOT_CONTEXT, { traceparent: traceParent });
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/** `propagationMetadata` of a batch item's own context (a job added by the batch for that item). */
export function itemMetadata(key: unknown): string | undefined {
  return on ? propagationMetadata(itemContext(key)) : undefined;
}

/**
 * One span per item, each in its item's trace, around work the batch does for all of them at once
 * (screening a batch): `annotate` adds what the work found for each item before the spans end.
 */
export async function spanEach<K, T>(
  keys: readonly K[],
  name: string,
  attributes: (key: K) => Attributes,
  fn: () => Promise<T>,
  annotate?: (key: K, span: Span, result: T) => void,
): Promise<T> {
  if (!on) return fn();
  const spans = keys.map(
    (key) => [key, tracer().startSpan(name, { attributes: attributes(key) }, itemContext(key))] as const,
  );
  try {
    const result = await fn();
    if (annotate) for (const [key, span] of spans) annotate(key, span, result);
    return result;
  } catch (err) {
    for (const [, span] of spans) failSpan(span, err);
    throw err;
  } finally {
    for (const [, span] of spans) span.end();
  }
}

/**
 * Runs a job that serves many orders (a send batch) in a span linked to each order's trace (`traces`:
 * order id → `propagationMetadata`, carried in the job), under the active span; inside it `itemSpan`
 * puts an order's part of the work into that order's own trace.
 */
export function linkedToItems<T>(
  name: string,
  traces: Record<string, string> | undefined,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  if (!on || !traces) return fn();
  const contexts = new Map<unknown, Context>();
  const links: Link[] = [];
  for (const [key, metadata] of Object.entries(traces)) {
    const ctx = contextFromMetadata(metadata);
    const span = trace.getSpan(ctx);
    if (!span) continue;
    contexts.set(key, ctx);
    links.push({ context: span.spanContext() });
  }
  return inSpan(
    name,
    { ...attributes, 'batch.size': contexts.size },
    () => context.with(context.active().setValue(BATCH_ITEMS, contexts), fn),
    { links },
  );
}

/**
 * Starts a span the caller ends (work that is not one function call: a batch whose items get spans of
 * their own as they go); under `options.parent`, else the active context. Undefined when tracing is off.
 */
export function startSpan(name: string, attributes: Attributes, options: SpanOptions = {}): Span | undefined {
  if (!on) return undefined;
  const { parent = context.active(), ...rest } = options;
  return tracer().startSpan(name, { attributes, ...rest }, parent);
}

/** The active context with `span` as its span (the parent of spans started under it). */
export function contextWith(span: Span): Context {
  return trace.setSpan(context.active(), span);
}

/** A span for spans parented on a remote context (`contextFromMetadata`): one per item of a job. */
export function startSpanIn(parent: Context, name: string, attributes: Attributes, links?: Link[]): Span {
  return tracer().startSpan(name, { attributes, ...(links ? { links } : {}) }, parent);
}

export { SpanKind };
