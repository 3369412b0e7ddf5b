import { timingSafeEqual } from 'node:crypto';
import type { Queue } from 'bullmq';
import { count, eq, min } from 'drizzle-orm';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/client';
import { notifications, orderStatuses, orders } from '../db/schema';
import { reviewQueue } from '../domain/orders/review';
import type { Logger } from '../lib/logger';
import { type MetricsPeers, mergedExposition, servePeerRegistry } from '../lib/metrics-peers';

/** The Prometheus text format that `/metrics` answers in. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type CircuitState = 'closed' | 'half_open' | 'open';
const circuitValues: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

/** A queue whose counts are exported, and the partition it belongs to (when there are several). */
export interface ExportedQueue {
  queue: Queue;
  partition?: number;
}

export interface MetricsSources {
  db: Db;
  /**
   * BullMQ queues whose job counts are exported (`bullmq_jobs{queue,state}`, …); with partitions, every
   * partition's, each series labelled `partition` (the same queue name exists once per partition).
   */
  queues: readonly ExportedQueue[] | Record<string, Queue>;
  logger?: Logger;
  /**
   * How long one `orders by status` count serves scrapes, in seconds (0: a count per scrape). The
   * count reads every order row; a scraper, or anyone who can reach /metrics, must not be able
   * to make MySQL do that as often as it likes.
   */
  ordersCacheSeconds?: number;
  /** How long one rendered exposition serves scrapes, in seconds (0 or unset: a render per scrape). */
  scrapeCacheSeconds?: number;
  /** Under `bun run start`: the other processes whose registries this one's exposition merges. */
  peers?: MetricsPeers;
}

/**
 * Families that read the same cluster-wide state in every process (MySQL counts, queue ages): under
 * the supervisor only the scraped process reports them, never summed over processes.
 */
export const SHARED_FAMILIES: ReadonlySet<string> = new Set([
  'orders_by_status',
  'fraud_review_queue_length',
  'fraud_review_queue_oldest_seconds',
  'bullmq_oldest_waiting_seconds',
  'notifications_queued',
  'notifications_oldest_queued_seconds',
  'metrics_source_up',
]);

interface OrdersScan {
  done: Promise<void>;
  finishedAt?: number;
  ok?: boolean;
}

/**
 * One app's metrics, in its own Registry rather than prom-client's global one, so that several apps
 * built in one process (tests, or an API and a worker side by side) never collide or double count.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly rateLimitRejections: Counter<'scope'>;
  readonly cacheHits: Counter<'cache'>;
  readonly cacheMisses: Counter<'cache'>;
  readonly circuitState: Gauge<'breaker'>;
  readonly jobDuration: Histogram<'queue' | 'job' | 'outcome'>;
  readonly riskDecisions: Counter<'decision'>;
  readonly riskScore: Histogram;
  readonly reviewOutcomes: Counter<'decision'>;
  readonly reconcileFailures: Counter<'task'>;
  private readonly reviewQueueLength: Gauge;
  private readonly reviewQueueAge: Gauge;
  private readonly sourceUp: Gauge<'source'>;
  private readonly ordersByStatus: Gauge<'status'>;
  private readonly oldestWaiting: Gauge<'queue' | 'partition'>;
  private readonly messagesQueued: Gauge;
  private readonly oldestMessage: Gauge;
  /** The last count (or the one in flight): concurrent scrapes share it, later ones reuse it until it is stale. */
  private ordersScan: OrdersScan | undefined;
  /** When the oldest queued message was recorded (null: none is queued; undefined: unknown). */
  private oldestQueuedAt: number | null | undefined;
  /** The last exposition (or the one being rendered), reused by scrapes for `scrapeCacheSeconds`. */
  private lastScrape: { text: Promise<string>; at: number | undefined } | undefined;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, matched route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer an HTTP request (until the response head, for streams)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rateLimitRejections = new Counter({
      name: 'rate_limit_rejections_total',
      help: 'Requests refused with 429, by the limit that refused them (ip, user, login, order)',
      labelNames: ['scope'],
      registers,
    });
    this.cacheHits = new Counter({
      name: 'cache_hits_total',
      help: 'Read-through cache hits, by cache',
      labelNames: ['cache'],
      registers,
    });
    this.cacheMisses = new Counter({
      name: 'cache_misses_total',
      help: 'Read-through cache misses, by cache',
      labelNames: ['cache'],
      registers,
    });
    this.circuitState = new Gauge({
      name: 'circuit_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['breaker'],
      registers,
    });
    this.sourceUp = new Gauge({
      name: 'metrics_source_up',
      help: 'Whether the last scrape could read a source (orders: MySQL, queues: Redis): 1 yes, 0 no',
      labelNames: ['source'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'job_processing_seconds',
      help: 'Time a worker of this process spent on a job, by queue (saga step), job name and outcome',
      labelNames: ['queue', 'job', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.riskDecisions = new Counter({
      name: 'fraud_decisions_total',
      help: 'Fraud screening decisions that took effect in this process, by outcome (approve, review, reject)',
      labelNames: ['decision'],
      registers,
    });
    // Every outcome is exported from the start, so a rate over it never starts from a missing series.
    for (const decision of ['approve', 'review', 'reject']) this.riskDecisions.inc({ decision }, 0);
    this.reviewOutcomes = new Counter({
      name: 'fraud_reviews_total',
      help: "Orders held for review that were decided here: an admin's approve or reject (API), or expired unreviewed (reconciler)",
      labelNames: ['decision'],
      registers,
    });
    for (const decision of ['approve', 'reject', 'expired']) this.reviewOutcomes.inc({ decision }, 0);
    this.reconcileFailures = new Counter({
      name: 'reconcile_failures_total',
      help: 'Orders the reconciler could not handle in a pass (left for the next), by task (expire_hold, expire_review, readd, settle)',
      labelNames: ['task'],
      registers,
    });
    for (const task of ['expire_hold', 'expire_review', 'readd', 'settle'])
      this.reconcileFailures.inc({ task }, 0);
    this.riskScore = new Histogram({
      name: 'fraud_score',
      help: "Fraud screening scores (0-1, the model's probability of fraud) of the orders screened here",
      buckets: [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
      registers,
    });
    this.reviewQueueLength = new Gauge({
      name: 'fraud_review_queue_length',
      help: "Orders waiting in `review` for an admin's decision",
      registers,
    });
    this.reviewQueueAge = new Gauge({
      name: 'fraud_review_queue_oldest_seconds',
      help: 'How long the oldest order in `review` has waited (0 when none does)',
      registers,
    });
    this.ordersByStatus = new Gauge({
      name: 'orders_by_status',
      help: 'Orders in MySQL, by status',
      labelNames: ['status'],
      registers,
    });
    this.oldestWaiting = new Gauge({
      name: 'bullmq_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting for a worker (wait list or next prioritized), by queue; 0 when none waits',
      labelNames: ['queue', 'partition'],
      registers,
    });
    this.messagesQueued = new Gauge({
      name: 'notifications_queued',
      help: 'Messages (email, SMS) recorded and not yet sent or failed',
      registers,
    });
    this.oldestMessage = new Gauge({
      name: 'notifications_oldest_queued_seconds',
      help: 'Age of the oldest message still queued (not yet sent or failed); 0 when none is',
      registers,
    });
  }

  observeRisk(a: { decision: string; score: number }): void {
    this.riskDecisions.inc({ decision: a.decision });
    this.riskScore.observe(a.score);
  }

  /** A review ended: decided by an admin, or expired (REVIEW_TTL_SECONDS) without a decision. */
  reviewEnded(decision: 'approve' | 'reject' | 'expired'): void {
    this.reviewOutcomes.inc({ decision });
  }

  reconcileFailed(task: string): void {
    this.reconcileFailures.inc({ task });
  }

  cacheHit(cache: string): void {
    this.cacheHits.inc({ cache });
  }

  cacheMiss(cache: string): void {
    this.cacheMisses.inc({ cache });
  }

  rateLimited(scope: string): void {
    this.rateLimitRejections.inc({ scope });
  }

  setCircuitState(breaker: string, state: CircuitState): void {
    this.circuitState.set({ breaker }, circuitValues[state]);
  }

  observeJob(labels: { queue: string; job: string; outcome: 'completed' | 'failed' }, seconds: number): void {
    this.jobDuration.observe(labels, seconds);
  }

  observeHttp(labels: { method: string; route: string; status: string }, seconds: number): void {
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  /**
   * What a scrape answers: the exposition, rendered at most once per `scrapeCacheSeconds` (scrapes at
   * once share the render in flight). A failed render is not kept.
   */
  scrape(render: () => Promise<string> = () => this.render()): Promise<string> {
    const ttlMs = (this.sources.scrapeCacheSeconds ?? 0) * 1000;
    const last = this.lastScrape;
    if (last && (last.at === undefined || Date.now() - last.at < ttlMs)) return last.text;
    const entry: { text: Promise<string>; at: number | undefined } = { text: render(), at: undefined };
    this.lastScrape = entry;
    entry.text.then(
      () => {
        entry.at = Date.now();
      },
      () => {
        if (this.lastScrape === entry) this.lastScrape = undefined;
      },
    );
    return entry.text;
  }

  /**
   * The whole exposition: this registry (merged with its peers' under the supervisor) plus BullMQ's
   * queue metrics, one block per metric family.
   */
  async render(): Promise<string> {
    // Both sources are read before the registry is serialised, so each scrape reports its own state.
    const [queueTexts] = await Promise.all([
      this.queueMetrics(),
      this.collectOrders(),
      this.collectOldestWaiting(),
    ]);
    this.setOldestMessage();
    const { peers } = this.sources;
    const own = peers
      ? await mergedExposition(
          {
            name: peers.peers.find((p) => p.port === peers.selfPort)?.name ?? 'self',
            metrics: await this.registry.getMetricsAsJSON(),
          },
          peers,
          SHARED_FAMILIES,
        )
      : await this.registry.metrics();
    return mergeExpositions([own, ...queueTexts]);
  }

  /**
   * At most one `SELECT status, COUNT(*) FROM orders GROUP BY status`, and one count of the queued
   * messages, per `ordersCacheSeconds`.
   */
  private collectOrders(): Promise<void> {
    const last = this.ordersScan;
    const ttlMs = (this.sources.ordersCacheSeconds ?? 0) * 1000;
    // A count in flight is shared even with the cache off: a burst of scrapes runs one query.
    if (last && last.finishedAt === undefined) return last.done;
    // A fresh successful count is reused; a failed one (MySQL down) is tried again at once.
    if (last?.ok && Date.now() - (last.finishedAt ?? 0) < ttlMs) return last.done;
    const scan: OrdersScan = { done: Promise.resolve() };
    scan.done = Promise.all([this.scanOrders(), this.scanMessages()]).then(([ok]) => {
      scan.ok = ok;
      scan.finishedAt = Date.now();
    });
    this.ordersScan = scan;
    return scan.done;
  }

  private async scanOrders(): Promise<boolean> {
    try {
      const rows = await this.sources.db
        .select({ status: orders.status, n: count() })
        .from(orders)
        .groupBy(orders.status);
      this.ordersByStatus.reset();
      // Every status is reported, with 0 when there is none, so a series never vanishes.
      for (const status of orderStatuses) this.ordersByStatus.set({ status }, 0);
      for (const row of rows) this.ordersByStatus.set({ status: row.status }, Number(row.n));
      const review = await reviewQueue(this.sources.db);
      this.reviewQueueLength.set(review.length);
      this.reviewQueueAge.set(
        review.oldestSince ? Math.max(0, Date.now() - review.oldestSince.getTime()) / 1000 : 0,
      );
      this.sourceUp.set({ source: 'orders' }, 1);
      return true;
    } catch (err) {
      // A scrape still answers (HTTP and queue metrics) while MySQL is down; readiness reports it.
      this.ordersByStatus.reset();
      this.sourceUp.set({ source: 'orders' }, 0);
      this.sources.logger?.warn({ err }, 'metrics: orders by status unavailable');
      return false;
    }
  }

  /** The queues as a list; a plain record of queues is one partition's (tests, single-family callers). */
  private queueList(): { list: readonly ExportedQueue[]; partitioned: boolean } {
    const { queues } = this.sources;
    const list: readonly ExportedQueue[] = Array.isArray(queues)
      ? queues
      : Object.values(queues as Record<string, Queue>).map((queue) => ({ queue }));
    return { list, partitioned: list.some((q) => (q.partition ?? 0) > 0) };
  }

  /**
   * Per queue, the oldest job in the wait list and the next prioritized one (two ids and two hashes
   * per queue per scrape). A job waits since it was added, or since its last attempt started when it
   * is back for a retry: a backlog shows as a rising line before customers notice it.
   */
  private async collectOldestWaiting(): Promise<void> {
    try {
      const now = Date.now();
      const { list, partitioned } = this.queueList();
      const ages = await Promise.all(
        list.map(async ({ queue, partition }) => {
          const jobs = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
          let oldest = now;
          for (const job of jobs) {
            const since = Math.max(job.timestamp + (job.delay ?? 0), job.processedOn ?? 0);
            if (since < oldest) oldest = since;
          }
          const labels = partitioned
            ? { queue: queue.name, partition: String(partition ?? 0) }
            : { queue: queue.name };
          return [labels, Math.max(0, now - oldest) / 1000] as const;
        }),
      );
      this.oldestWaiting.reset();
      for (const [labels, seconds] of ages) this.oldestWaiting.set(labels, seconds);
    } catch (err) {
      // Unknown is not zero: the series goes away while Redis cannot answer (metrics_source_up says why).
      this.oldestWaiting.reset();
      this.sources.logger?.warn({ err }, 'metrics: oldest waiting job unavailable');
    }
  }

  /**
   * `SELECT COUNT(*), MIN(created_at) FROM notifications WHERE status = 'queued'`, with the orders
   * count. The age is reckoned at each scrape from the oldest one's time, so it keeps rising between
   * counts; a message sent meanwhile leaves the series at the next count.
   */
  private async scanMessages(): Promise<void> {
    try {
      const [row] = await this.sources.db
        .select({ n: count(), oldest: min(notifications.createdAt) })
        .from(notifications)
        .where(eq(notifications.status, 'queued'));
      this.messagesQueued.set(Number(row?.n ?? 0));
      this.oldestQueuedAt = row?.oldest ? new Date(row.oldest).getTime() : null;
    } catch (err) {
      this.messagesQueued.reset();
      this.oldestQueuedAt = undefined;
      this.sources.logger?.warn({ err }, 'metrics: queued messages unavailable');
    }
  }

  private setOldestMessage(): void {
    if (this.oldestQueuedAt === undefined) this.oldestMessage.reset();
    else if (this.oldestQueuedAt === null) this.oldestMessage.set(0);
    else this.oldestMessage.set(Math.max(0, Date.now() - this.oldestQueuedAt) / 1000);
  }

  private async queueMetrics(): Promise<string[]> {
    try {
      const { list, partitioned } = this.queueList();
      const texts = await Promise.all(
        list.map(({ queue, partition }) =>
          queue.exportPrometheusMetrics(partitioned ? { partition: String(partition ?? 0) } : undefined),
        ),
      );
      this.sourceUp.set({ source: 'queues' }, 1);
      // BullMQ calls its depth gauge `bullmq_job_count`; a `_count` suffix is reserved for histograms
      // and summaries (promtool refuses it), so it is exported as `bullmq_jobs{queue,state}`.
      return texts.map((t) => t.replace(/^(# (?:HELP|TYPE) )?bullmq_job_count(?=[\s{])/gm, '$1bullmq_jobs'));
    } catch (err) {
      this.sourceUp.set({ source: 'queues' }, 0);
      this.sources.logger?.warn({ err }, 'metrics: queue metrics unavailable');
      return [];
    }
  }
}

/**
 * Whether a scrape may read the metrics: always when no token is configured; otherwise only with
 * `Authorization: Bearer <token>` (compared in constant time).
 */
export function scrapeAllowed(authorization: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const presented = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!presented) return false;
  const a = new Bun.CryptoHasher('sha256').update(presented).digest();
  const b = new Bun.CryptoHasher('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/**
 * Under `bun run start` (METRICS_PEER_PORT and METRICS_PEER_SECRET set): serves this process's
 * registry on loopback for the API processes' merged /metrics. Undefined for a process run alone.
 */
export function servePeerMetrics(
  metrics: Metrics,
  config: { METRICS_PEER_PORT?: number | undefined; METRICS_PEER_SECRET?: string | undefined },
) {
  if (!config.METRICS_PEER_PORT || !config.METRICS_PEER_SECRET) return undefined;
  return servePeerRegistry(
    metrics.registry,
    config.METRICS_PEER_PORT,
    config.METRICS_PEER_SECRET,
    SHARED_FAMILIES,
  );
}

export function createMetrics(sources: MetricsSources): Metrics {
  return new Metrics(sources);
}

interface Family {
  help?: string;
  type?: string;
  samples: string[];
}

const headerLine = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)/;
const sampleName = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/**
 * Merges Prometheus text expositions into one. BullMQ's `exportPrometheusMetrics` repeats its
 * `# HELP`/`# TYPE` lines for every queue and interleaves its families (count, completed, failed per
 * queue); the text format wants each family once, with its samples together. The first HELP/TYPE
 * of a family wins, and samples keep their order within the family.
 */
export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const text of texts) {
    let current: string | undefined;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line) continue;
      const header = headerLine.exec(line);
      if (header) {
        const [, kind, name] = header;
        if (!name) continue;
        const f = family(name);
        if (kind === 'HELP') f.help ??= line;
        else f.type ??= line;
        current = name;
        continue;
      }
      if (line.startsWith('#')) continue;
      const name = sampleName.exec(line)?.[0];
      if (!name) continue;
      // A histogram's `_bucket`/`_sum`/`_count` samples belong to the family declared above them.
      const owner = current && (name === current || name.startsWith(`${current}_`)) ? current : name;
      family(owner).samples.push(line);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.help) out.push(f.help);
    if (f.type) out.push(f.type);
    out.push(...f.samples);
  }
  return `${out.join('\n')}\n`;
}
