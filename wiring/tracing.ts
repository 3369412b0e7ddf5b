import { hostname } from 'node:os';
import type { Context } from '@opentelemetry/api';
import { SpanKind, type Telemetry } from 'bullmq';
import type { Config } from '../lib/config';
import { setTracing } from '../lib/tracing';

/** What a process traces with, once started: BullMQ's telemetry and a way to flush on the way out. */
interface Started {
  telemetry: Telemetry;
  shutdown(): Promise<void>;
}

let started: Started | undefined;

/**
 * Starts this process's tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK (loaded here, on
 * demand, so a process without an endpoint never loads it), AsyncLocalStorage context (Bun runs it),
 * W3C trace context, a sampler from OTEL_TRACES_SAMPLER, a batch processor whose queue is bounded
 * (OTEL_BSP_MAX_QUEUE_SIZE) and the OTLP/HTTP exporter of OTEL_EXPORTER_OTLP_PROTOCOL. Each process
 * names itself with `service.instance.id` (host, pid); `service` is its default service name.
 */
export async function startTracing(config: Config, service: string): Promise<boolean> {
  if (started || !config.OTEL_EXPORTER_OTLP_ENDPOINT) return started !== undefined;
  const [api, sdk, core, resources, asyncHooks, { BullMQOtel }, exporter] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/context-async-hooks'),
    import('bullmq-otel'),
    config.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json'
      ? import('@opentelemetry/exporter-trace-otlp-http')
      : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const ratio = new sdk.TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG);
  const samplers = {
    always_on: () => new sdk.AlwaysOnSampler(),
    always_off: () => new sdk.AlwaysOffSampler(),
    traceidratio: () => ratio,
    parentbased_always_on: () => new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() }),
    parentbased_always_off: () => new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() }),
    parentbased_traceidratio: () => new sdk.ParentBasedSampler({ root: ratio }),
  } as const;
  // Ours first, then what the operator set (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) over it.
  const resource = resources
    .defaultResource()
    .merge(
      resources.resourceFromAttributes({
        'service.name': service,
        'service.instance.id': `${hostname()}:${process.pid}`,
        'process.pid': process.pid,
      }),
    )
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // The exporter reads the endpoint, headers and timeout from the standard OTEL_EXPORTER_OTLP_* variables.
  const processor = new sdk.BatchSpanProcessor({
    exporter: new exporter.OTLPTraceExporter(),
    maxQueueSize: config.OTEL_BSP_MAX_QUEUE_SIZE,
    maxExportBatchSize: config.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    scheduledDelayMillis: config.OTEL_BSP_SCHEDULE_DELAY,
    exportTimeoutMillis: config.OTEL_BSP_EXPORT_TIMEOUT,
  });
  const provider = new sdk.TracerProvider({
    resource,
    sampler: samplers[config.OTEL_TRACES_SAMPLER](),
    spanProcessors: [processor],
  });
  api.context.setGlobalContextManager(new asyncHooks.AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  api.trace.setGlobalTracerProvider(provider);
  // An exporter that cannot reach its collector reports each failed export through the diag logger,
  // which is silent unless set: the spans are dropped, the process goes on.
  started = {
    telemetry: processSpansOnly(new BullMQOtel({ tracerName: 'bullmq' })),
    shutdown: () => provider.shutdown(),
  };
  setTracing(true);
  return true;
}

/** What BullMQ gets for a span it does not record: the context passes through unchanged. */
const unrecorded: ReturnType<Telemetry['tracer']['startSpan']> = {
  setSpanOnContext: (ctx) => ctx,
  setAttribute() {},
  setAttributes() {},
  addEvent() {},
  recordException() {},
  end() {},
};

/**
 * BullMQ's telemetry recording only the spans an operator reads: `process <queue>`, a job's run (the
 * order's step: workers/step.ts puts the order's attributes on it). The others (`addNode` three times
 * per order in the placing batch's trace, `addBulkFlows`, `complete` after every job, the stalled-job
 * timers) were half of an order's spans and most of what tracing cost, and tell nothing a `process`
 * span does not. Propagation is unchanged: a job still carries the context it was added in (our
 * metadata, or the active context when none is given), since a span not recorded leaves it as it is.
 */
function processSpansOnly(otel: Telemetry): Telemetry {
  const manager = otel.contextManager;
  // BullMQ injects the active context into a string for every flow node it adds (three per order),
  // though each node carries the metadata we gave it; the nodes of one placing batch share a context.
  const injected = new WeakMap<Context, string>();
  return {
    contextManager: {
      active: () => manager.active(),
      getMetadata: (ctx) => {
        let metadata = injected.get(ctx);
        if (metadata === undefined) {
          metadata = manager.getMetadata(ctx);
          injected.set(ctx, metadata);
        }
        return metadata;
      },
      // BullMQ parses a job's metadata for each operation it wraps, `getNextJob` as well as `process`;
      // only a recorded span's start reads it. Parsed when first read, so once per job.
      fromMetadata: (active, metadata) => lazyContext(() => manager.fromMetadata(active, metadata)),
      // BullMQ enters a context around each of its operations; for one whose span is not recorded it
      // is the active one already, and entering it again (AsyncLocalStorage.run) was most of what
      // tracing cost a worker with no span sampled.
      with: (ctx, fn) => (ctx === manager.active() ? fn() : manager.with(ctx, fn)),
    },
    tracer: {
      startSpan: (name, options, ctx) =>
        options?.kind === SpanKind.CONSUMER ? trimmed(otel.tracer.startSpan(name, options, ctx)) : unrecorded,
    },
  };
}

/** A context made when first read: `make` runs at most once, and never if nothing reads it. */
function lazyContext(make: () => Context): Context {
  let made: Context | undefined;
  const real = () => {
    made ??= make();
    return made;
  };
  return {
    getValue: (key) => real().getValue(key),
    setValue: (key, value) => real().setValue(key, value),
    deleteValue: (key) => real().deleteValue(key),
  };
}

/**
 * A recorded `process` span without what BullMQ adds to it by itself: its attributes (`bullmq.*`: the
 * queue, job id and attempts again, the worker's id and name, two timestamps the span's own times
 * give) and the `job completed` event carrying the job's result as JSON. workers/step.ts puts what an
 * operator filters by on the span; the rest cost CPU per span and bytes per export for nothing new.
 * A failure's event stays.
 */
function trimmed(
  span: ReturnType<Telemetry['tracer']['startSpan']>,
): ReturnType<Telemetry['tracer']['startSpan']> {
  return {
    setSpanOnContext: (ctx) => span.setSpanOnContext(ctx),
    setAttribute() {},
    setAttributes() {},
    addEvent: (name, attributes) => {
      if (name !== 'job completed') span.addEvent(name, attributes);
    },
    recordException: (exception, time) => span.recordException(exception, time),
    end: () => span.end(),
  };
}

/** BullMQ's `telemetry` option (bullmq-otel) when tracing is on; undefined (no option at all) when off. */
export function jobTelemetry(): Telemetry | undefined {
  return started?.telemetry;
}

/** How long a stopping process waits for its last spans to be sent: a collector away never holds it up. */
const FLUSH_ON_STOP_MS = 3000;

/** Sends the spans still queued, for at most FLUSH_ON_STOP_MS; a no-op when tracing is off. */
export async function stopTracing(): Promise<void> {
  if (!started) return;
  await Promise.race([started.shutdown().catch(() => {}), Bun.sleep(FLUSH_ON_STOP_MS)]);
}
