/**
 * A stand-in OpenTelemetry collector: OTLP/HTTP on loopback, `POST /v1/traces` with the JSON encoding
 * (OTEL_EXPORTER_OTLP_PROTOCOL=http/json; ids as hex, as the protocol's JSON mapping has them). It
 * keeps every span it is sent, flattened with its resource's attributes, for a test to query.
 */

export type AttrValue = string | number | boolean | AttrValue[] | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, AttrValue>;
  resource: Record<string, AttrValue>;
  links: { traceId: string; spanId: string }[];
  /** Every attribute value of the span, its events, links and resource, as text (for leak checks). */
  values: string[];
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpAttr {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttr[];
  events?: { attributes?: OtlpAttr[] }[];
  links?: { traceId: string; spanId: string; attributes?: OtlpAttr[] }[];
}
interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttr[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

function value(v: OtlpValue): AttrValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  return undefined;
}

const record = (attrs: OtlpAttr[] = []) => Object.fromEntries(attrs.map((a) => [a.key, value(a.value)]));
const texts = (attrs: OtlpAttr[] = []) => attrs.map((a) => JSON.stringify(value(a.value)));

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** How many export requests arrived (any outcome). */
  requests: number;
  stop(): Promise<void>;
}

export function startOtlpReceiver(port = 0): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const state = { requests: 0 };
  const server = Bun.serve({
    port,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== 'POST' || url.pathname !== '/v1/traces') return new Response(null, { status: 404 });
      state.requests++;
      const body = (await req.json()) as OtlpRequest;
      for (const rs of body.resourceSpans ?? []) {
        const resource = record(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              attributes: record(s.attributes),
              resource,
              links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
              values: [
                ...texts(s.attributes),
                ...(s.events ?? []).flatMap((e) => texts(e.attributes)),
                ...(s.links ?? []).flatMap((l) => texts(l.attributes)),
                ...texts(rs.resource?.attributes),
              ],
            });
          }
        }
      }
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    spans,
    get requests() {
      return state.requests;
    },
    stop: () => server.stop(true),
  };
}
