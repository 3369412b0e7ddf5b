import {
  createOtlpNetworkExportDelegate,
  type ExportResponse,
  type IExporterTransport,
  OTLPExporterBase,
  OTLPExporterError,
} from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExporterMetrics,
} from '@opentelemetry/otlp-exporter-base/node-http';
import {
  JsonTraceSerializer,
  ProtobufTraceSerializer,
  TraceExporterMetricsHelper,
} from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * The SDK's OTLP/HTTP trace exporter (its configuration from the standard OTEL_EXPORTER_OTLP_*
 * variables, its serializers, its bounded queue of exports in flight, its own metrics) sending with
 * Bun's native `fetch` instead of `node:http`. Under Bun, `node:http` pipes each batch through an
 * emulated Readable stream and copies it into one more buffer on the way to the socket: in a worker's
 * profile, that send was a third of what exporting cost (bench/README: what tracing costs).
 */
export function otlpTraceExporter(protocol: 'http/json' | 'http/protobuf'): SpanExporter {
  const json = protocol === 'http/json';
  const options = convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', {
    'Content-Type': json ? 'application/json' : 'application/x-protobuf',
  });
  // No meter provider: the exporter's own metrics go to the global one, a no-op here (ours are Prometheus's).
  const metrics = createOtlpHttpExporterMetrics(
    'otlp_http_span_exporter',
    TraceExporterMetricsHelper,
    options.url,
    undefined,
  );
  const transport = retrying(fetchTransport(options));
  return new OTLPExporterBase<ReadableSpan[]>(
    createOtlpNetworkExportDelegate(
      options,
      json ? JsonTraceSerializer : ProtobufTraceSerializer,
      metrics,
      transport,
    ),
  );
}

interface Target {
  url: string;
  headers: () => Promise<Record<string, string>>;
  compression: 'gzip' | 'none';
  userAgent?: string;
}

const USER_AGENT = 'OTel-OTLP-Exporter-JavaScript/0.301.2';
/** A collector's answer larger than this is not read (the SDK's node transport has the same limit). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** One POST of one serialized batch, answered as the SDK's transports answer: success, retryable or failure. */
export function fetchTransport(target: Target): IExporterTransport {
  return {
    async send(data, timeoutMillis): Promise<ExportResponse> {
      const headers: Record<string, string> = {
        ...(await target.headers()),
        'User-Agent': target.userAgent ? `${target.userAgent} ${USER_AGENT}` : USER_AGENT,
      };
      // The serializers' bytes own their buffer (not a SharedArrayBuffer): fetch sends them as they are.
      let body = data as Uint8Array<ArrayBuffer>;
      if (target.compression === 'gzip') {
        body = Bun.gzipSync(body);
        headers['Content-Encoding'] = 'gzip';
      }
      let response: Response;
      try {
        response = await fetch(target.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(timeoutMillis),
        });
      } catch (err) {
        // Refused, reset, unresolvable or timed out: the collector may be back by the next try.
        return { status: 'retryable', error: err instanceof Error ? err : new Error(String(err)) };
      }
      const length = Number(response.headers.get('content-length') ?? 0);
      if (length > MAX_RESPONSE_BYTES) {
        await response.body?.cancel();
        return { status: 'failure', error: new Error(`OTLP export response of ${length} bytes not read`) };
      }
      const answer = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
      if (response.ok) return { status: 'success', data: answer };
      if ([429, 502, 503, 504].includes(response.status)) {
        return { status: 'retryable', retryInMillis: retryAfterMs(response.headers.get('retry-after')) };
      }
      const text = new TextDecoder().decode(answer.subarray(0, 1024));
      return { status: 'failure', error: new OTLPExporterError(response.statusText, response.status, text) };
    },
    shutdown() {},
  };
}

/** `Retry-After` as milliseconds: seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number.parseInt(value, 10);
  if (Number.isInteger(seconds)) return Math.max(0, seconds * 1000);
  const at = new Date(value).getTime();
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const MAX_ATTEMPTS = 5;

/**
 * Retries a retryable answer with the SDK's schedule (1 s, then ×1.5 up to 5 s, ±20 % jitter, or the
 * collector's Retry-After), within the export's own timeout: an export never outlives it.
 */
export function retrying(transport: IExporterTransport, firstBackoffMs = 1000): IExporterTransport {
  return {
    async send(data, timeoutMillis) {
      const deadline = Date.now() + timeoutMillis;
      let backoff = firstBackoffMs;
      let result = await transport.send(data, timeoutMillis);
      for (let attempt = 1; result.status === 'retryable' && attempt < MAX_ATTEMPTS; attempt++) {
        const wait = result.retryInMillis ?? Math.min(backoff * (0.8 + Math.random() * 0.4), 5000);
        backoff *= 1.5;
        const left = deadline - Date.now();
        if (wait > left) break;
        await Bun.sleep(wait);
        result = await transport.send(data, deadline - Date.now());
      }
      return result;
    },
    shutdown: () => transport.shutdown(),
  };
}
