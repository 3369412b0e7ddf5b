import { timingSafeEqual } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from './config';

/** One process's registry as prom-client's `getMetricsAsJSON()` gives it. */
export type RegistryJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** A supervised process whose registry an API process merges into its /metrics. */
export interface MetricsPeer {
  name: string;
  port: number;
}

/**
 * How the processes of one `bun run start` find each other's metrics (set by the supervisor): every
 * child serves its registry on 127.0.0.1:`selfPort`, and an API process's /metrics merges them all.
 */
export interface MetricsPeers {
  selfPort: number;
  peers: MetricsPeer[];
  secret: string;
  /** How long one peer may take to answer a scrape's request (a slow one is left out, not waited for). */
  timeoutMs?: number;
}

/** The peers of a supervised process, when the supervisor set them (undefined for a process alone). */
export function peersFromConfig(
  config: Pick<Config, 'METRICS_PEER_PORT' | 'METRICS_PEERS' | 'METRICS_PEER_SECRET'>,
): MetricsPeers | undefined {
  const { METRICS_PEER_PORT: selfPort, METRICS_PEERS: list, METRICS_PEER_SECRET: secret } = config;
  if (!selfPort || !list || !secret) return undefined;
  return { selfPort, peers: parsePeers(list), secret };
}

/** `api-1=41001,worker-1=41002` (METRICS_PEERS). */
export function parsePeers(list: string): MetricsPeer[] {
  return list.split(',').map((entry) => {
    const [name = '', port = ''] = entry.split('=');
    return { name, port: Number(port) };
  });
}

/**
 * Serves this process's registry as JSON on loopback, to the API processes of the same supervisor
 * (Bearer `secret`). `exclude` leaves out the families every process would report alike.
 */
export function servePeerRegistry(
  registry: Registry,
  port: number,
  secret: string,
  exclude: ReadonlySet<string>,
) {
  return Bun.serve({
    port,
    hostname: '127.0.0.1',
    fetch: async (req) => {
      if (!bearerMatches(req.headers.get('authorization'), secret))
        return new Response(null, { status: 401 });
      const own = (await registry.getMetricsAsJSON()).filter((m) => !exclude.has(m.name));
      return Response.json(own);
    },
  });
}

/**
 * Merges registries of several processes, as prom-client's AggregatorRegistry does for cluster
 * workers: counters and histograms summed per label set; gauges that describe one process (open
 * connections, a breaker's state) kept apart with a `process` label. `shared` families (the same
 * cluster-wide reading in every process: orders by status, queue ages) are taken from `own` alone,
 * unlabelled. Returns the exposition text plus `metrics_process_up{process}` per peer.
 */
export async function mergedExposition(
  own: { name: string; metrics: RegistryJson },
  config: MetricsPeers,
  shared: ReadonlySet<string>,
): Promise<string> {
  const others = config.peers.filter((p) => p.port !== config.selfPort);
  const answers = await Promise.all(others.map((p) => fetchPeer(p, config)));
  const sets: { name: string; metrics: RegistryJson }[] = [own];
  others.forEach((p, i) => {
    const metrics = answers[i];
    if (metrics) sets.push({ name: p.name, metrics });
  });
  const labelled = sets.map(({ name, metrics }) =>
    metrics
      .filter((m) => name === own.name || !shared.has(m.name))
      .map((m) =>
        String(m.type) === 'gauge' && !shared.has(m.name)
          ? { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, process: name } })) }
          : m,
      ),
  );
  const text = await AggregatorRegistry.aggregate(labelled).metrics();
  const up = [
    '# HELP metrics_process_up Whether a supervised process answered this scrape (1) or was left out (0)',
    '# TYPE metrics_process_up gauge',
    `metrics_process_up{process="${own.name}"} 1`,
    ...others.map((p, i) => `metrics_process_up{process="${p.name}"} ${answers[i] ? 1 : 0}`),
  ].join('\n');
  return `${text}\n${up}\n`;
}

async function fetchPeer(peer: MetricsPeer, config: MetricsPeers): Promise<RegistryJson | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${peer.port}/`, {
      headers: { authorization: `Bearer ${config.secret}` },
      signal: AbortSignal.timeout(config.timeoutMs ?? 2000),
    });
    return res.ok ? ((await res.json()) as RegistryJson) : undefined;
  } catch {
    // Restarting, or too slow: this scrape goes without it (metrics_process_up says so).
    return undefined;
  }
}

function bearerMatches(authorization: string | null, secret: string): boolean {
  const presented = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!presented) return false;
  const a = new Bun.CryptoHasher('sha256').update(presented).digest();
  const b = new Bun.CryptoHasher('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}
