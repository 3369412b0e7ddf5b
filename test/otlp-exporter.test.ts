import { afterAll, describe, expect, test } from 'bun:test';
import { gunzipSync } from 'node:zlib';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { otlpTraceExporter } from '../wiring/otlp-exporter';

/** Spans the real SDK made: what a BatchSpanProcessor hands the exporter. */
function someSpans(): ReadableSpan[] {
  const ended: ReadableSpan[] = [];
  const collect: SpanProcessor = {
    onStart() {},
    onEnd: (span) => void ended.push(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'exporter-test' }),
    spanProcessors: [collect],
  });
  const tracer = provider.getTracer('orderflow');
  for (const name of ['process reserve', 'gateway charge']) {
    tracer
      .startSpan(name, { kind: SpanKind.CONSUMER, attributes: { 'order.id': 'ord_1', attempt: 1 } })
      .end();
  }
  return ended;
}

interface Arrival {
  headers: Headers;
  body: Uint8Array;
}

/** A stand-in collector answering each request with the next of `answers` (the last one repeats). */
function collector(answers: (() => Response | Promise<Response>)[]) {
  const arrivals: Arrival[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      arrivals.push({ headers: req.headers, body: new Uint8Array(await req.arrayBuffer()) });
      const answer = answers[Math.min(arrivals.length, answers.length) - 1] as () => Response;
      return answer();
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, arrivals, stop: () => server.stop(true) };
}

const servers: { stop(): unknown }[] = [];
afterAll(() => Promise.all(servers.map((s) => s.stop())));

/** The exporter as startTracing builds it, reading the OTEL_EXPORTER_OTLP_* variables given (only those). */
function exporterWith(env: Record<string, string>, protocol: 'http/json' | 'http/protobuf' = 'http/json') {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (key.startsWith('OTEL_')) delete process.env[key];
  Object.assign(process.env, env);
  try {
    return otlpTraceExporter(protocol);
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

const exportOnce = (exporter: SpanExporter, spans: ReadableSpan[]) =>
  new Promise<{ code: ExportResultCode; error?: Error }>((resolve) => exporter.export(spans, resolve));

const ok = () => Response.json({});

describe('the OTLP/HTTP exporter (SDK exporter, fetch transport)', () => {
  test('sends the SDK serializers’ exact bytes to /v1/traces, JSON or protobuf, with the configured headers', async () => {
    const c = collector([ok]);
    servers.push(c);
    const spans = someSpans();
    for (const protocol of ['http/json', 'http/protobuf'] as const) {
      const exporter = exporterWith(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: c.url,
          OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=shop%201,authorization=Bearer t',
        },
        protocol,
      );
      expect((await exportOnce(exporter, spans)).code).toBe(ExportResultCode.SUCCESS);
    }
    expect(c.arrivals).toHaveLength(2);
    const [json, proto] = c.arrivals as [Arrival, Arrival];
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(json.body).toEqual(JsonTraceSerializer.serializeRequest(spans) as Uint8Array);
    expect(proto.headers.get('content-type')).toBe('application/x-protobuf');
    expect(proto.body).toEqual(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
    for (const a of c.arrivals) {
      expect(a.headers.get('x-tenant')).toBe('shop 1');
      expect(a.headers.get('authorization')).toBe('Bearer t');
      expect(a.headers.get('user-agent')).toStartWith('OTel-OTLP-Exporter-JavaScript/');
    }
  });

  test('OTEL_EXPORTER_OTLP_COMPRESSION=gzip sends the batch gzipped, and it unzips to the same bytes', async () => {
    const c = collector([ok]);
    servers.push(c);
    const spans = someSpans();
    const exporter = exporterWith({
      OTEL_EXPORTER_OTLP_ENDPOINT: c.url,
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
    });
    expect((await exportOnce(exporter, spans)).code).toBe(ExportResultCode.SUCCESS);
    const [arrival] = c.arrivals as [Arrival];
    expect(arrival.headers.get('content-encoding')).toBe('gzip');
    expect(new Uint8Array(gunzipSync(arrival.body as Uint8Array<ArrayBuffer>))).toEqual(
      JsonTraceSerializer.serializeRequest(spans) as Uint8Array<ArrayBuffer>,
    );
  });

  test('a collector that answers 503 with Retry-After is tried again, and the batch goes once it is back', async () => {
    const c = collector([() => new Response('busy', { status: 503, headers: { 'retry-after': '0' } }), ok]);
    servers.push(c);
    const exporter = exporterWith({ OTEL_EXPORTER_OTLP_ENDPOINT: c.url });
    expect((await exportOnce(exporter, someSpans())).code).toBe(ExportResultCode.SUCCESS);
    expect(c.arrivals).toHaveLength(2);
  });

  test('a refusal (400) is final: one request, the export fails, nothing is retried', async () => {
    const c = collector([() => new Response('bad', { status: 400 })]);
    servers.push(c);
    const exporter = exporterWith({ OTEL_EXPORTER_OTLP_ENDPOINT: c.url });
    const result = await exportOnce(exporter, someSpans());
    expect(result.code).toBe(ExportResultCode.FAILED);
    await Bun.sleep(1200);
    expect(c.arrivals).toHaveLength(1);
  });

  test('a collector that never answers, or is not there, fails the export within OTEL_EXPORTER_OTLP_TIMEOUT', async () => {
    const hang = collector([() => new Promise<Response>(() => {})]);
    servers.push(hang);
    const gone = collector([ok]);
    await gone.stop();
    for (const url of [hang.url, gone.url]) {
      const exporter = exporterWith({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_TIMEOUT: '400' });
      const started = performance.now();
      const result = await exportOnce(exporter, someSpans());
      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(performance.now() - started).toBeLessThan(2000);
    }
  });
});
