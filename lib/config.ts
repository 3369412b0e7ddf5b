import { availableParallelism } from 'node:os';
import { z } from 'zod';

const bool = z
  .enum(['on', 'off', 'true', 'false', '1', '0'])
  .transform((v) => v === 'on' || v === 'true' || v === '1');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535).default(3000),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  // `host:port,host:port,…`: run on this Redis Cluster (ioredis Cluster) instead of REDIS_URL. Any
  // reachable nodes will do; the client learns the rest of the cluster from them.
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, 'host:port,host:port,… (at least one node)')
    .optional(),
  // K flow families, orders spread over them by id (queues/partitions.ts); each has its own hash tag.
  QUEUE_PARTITIONS: int(1, 256).default(1),
  DATABASE_URL: z
    .string()
    .url()
    .refine((u) => u.startsWith('mysql://'), 'must be a mysql:// URL')
    .default('mysql://root@127.0.0.1:3306/orderflow'),
  DATABASE_POOL_SIZE: int(1, 500).default(20),
  // A pool that is used up answers with a clear error (503 at the API) instead of waiting for ever:
  // a caller waits at most this long for a connection, and at most this many callers wait (0: no cap).
  DATABASE_POOL_ACQUIRE_TIMEOUT_MS: int(10, 600_000).default(10_000),
  DATABASE_POOL_QUEUE_LIMIT: int(0, 1_000_000).default(1000),
  // BullMQ refuses ':' inside a prefix's own keys only as job ids; a hash tag such as
  // {orderflow} is allowed and keeps a flow's queues in one Redis Cluster slot.
  QUEUE_PREFIX: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'letters, digits, _ . - { } only')
    .default('orderflow'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ACCESS_TOKEN_TTL_SECONDS: int(30, 86_400).default(900),
  REFRESH_TOKEN_TTL_SECONDS: int(60, 90 * 86_400).default(30 * 86_400),
  PII_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes, base64')
    .optional(),
  ADMIN_EMAIL: z.string().email().optional(),
  ADMIN_PASSWORD: z.string().min(10, 'must be at least 10 characters').optional(),
  // The operators' console (/console): how long a signed-in session lasts without being used.
  CONSOLE_SESSION_TTL_SECONDS: int(60, 7 * 86_400).default(8 * 3600),
  RESERVATION_TTL_SECONDS: int(1, 7 * 86_400).default(900),
  // Unpaid holds: how many orders one user may keep waiting for payment, and how many units each holds.
  MAX_UNPAID_ORDERS: int(1, 10_000).default(3),
  MAX_UNPAID_UNITS: int(1, 100_000).default(100),
  // A charge that timed out may still land after a cancel was told "not charged": the reconciler asks
  // the gateway again for this long after the order ended, and refunds what landed.
  LATE_CHARGE_WINDOW_SECONDS: int(0, 30 * 86_400).default(3600),
  // Fraud screening: how long an order waits in `review` for an admin, and the score thresholds (0–1;
  // above 1 a decision is never taken by score, the test tokens still force theirs).
  REVIEW_TTL_SECONDS: int(1, 30 * 86_400).default(86_400),
  // The operator's kill switch: `off` charges every order unscreened (no score, no counters, no verdict
  // stored), e.g. while the model misbehaves or to measure what screening costs.
  FRAUD_SCREENING: bool.default(true),
  RISK_REVIEW_AT: z.coerce.number().min(0).max(10).default(0.6),
  RISK_REJECT_AT: z.coerce.number().min(0).max(10).default(0.9),
  RECONCILE_AFTER_SECONDS: int(1, 86_400).default(30),
  // Events and webhooks: how long GET /events reaches back (older events are pruned by maintenance);
  // webhook endpoints on loopback/private addresses or plain http (tests, a local receiver); the first
  // retry's delay (each later one ×3), the attempts in all (the last ≈ 3 days after the first at the
  // defaults), a send's time limit, the sends in flight to one endpoint (its one job, cluster-wide),
  // the endpoint jobs one process runs at once, and the dispatcher's pace.
  EVENT_RETENTION_DAYS: int(1, 3650).default(30),
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_RETRY_BASE_SECONDS: int(1, 86_400).default(30),
  WEBHOOK_MAX_ATTEMPTS: int(1, 20).default(10),
  WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(10_000),
  WEBHOOK_ENDPOINT_CONCURRENCY: int(1, 1000).default(5),
  WEBHOOK_CONCURRENCY: int(1, 1000).default(50),
  WEBHOOK_DISPATCH_EVERY_MS: int(50, 60_000).default(500),
  RECONCILE_EVERY_MS: int(100, 3_600_000).default(10_000),
  RATE_LIMITS: bool.default(true),
  // Behind exactly one reverse proxy that appends the client's address to X-Forwarded-For, turn this
  // on so the per-IP limit keys on that address (the last entry) instead of the proxy's socket.
  TRUST_PROXY: bool.default(false),
  IP_RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(1200),
  RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(300),
  LOGIN_RATE_LIMIT_PER_MINUTE: int(1, 10_000).default(5),
  LOGIN_BLOCK_SECONDS: int(0, 86_400).default(300),
  // Sign-in attempts per minute per account from all addresses together (login and the board share it).
  LOGIN_ACCOUNT_RATE_LIMIT_PER_MINUTE: int(1, 10_000).default(20),
  // Sign-in attempts per minute from one address whatever the emails (a sprayer trying one password
  // on many accounts would otherwise keep the password-hash queue full for everyone).
  LOGIN_ADDRESS_RATE_LIMIT_PER_MINUTE: int(1, 100_000).default(30),
  // argon2id hashes (login, registration, board sign-in) running at once in one process; the rest wait.
  PASSWORD_HASH_CONCURRENCY: int(1, 256).default(Math.max(1, Math.floor(availableParallelism() / 2))),
  ORDER_RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(60),
  PAYMENT_GATEWAY: z.enum(['simulated', 'stripe']).default('simulated'),
  // Stripe (PAYMENT_GATEWAY=stripe): a secret or restricted key (sk_test_… is test mode), the signing
  // secret of the webhook endpoint, and the API's address (stripe-mock or a test stand-in elsewhere).
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret key (sk_test_…, sk_live_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\S+$/, 'must be a webhook signing secret (whsec_…)')
    .optional(),
  STRIPE_API_URL: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
    .default('https://api.stripe.com'),
  GATEWAY_LATENCY_MS: int(0, 60_000).default(0),
  GATEWAY_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  GATEWAY_TIMEOUT_MS: int(10, 120_000).default(5000),
  // Circuit breakers around the payment gateway and the email provider (cockatiel).
  BREAKER_FAILURE_RATE: z.coerce.number().gt(0).lt(1).default(0.5),
  BREAKER_WINDOW_MS: int(100, 600_000).default(10_000),
  BREAKER_MIN_RPS: z.coerce.number().gt(0).max(10_000).default(0.5),
  BREAKER_HALF_OPEN_MS: int(50, 600_000).default(5000),
  BREAKER_RETRIES: int(0, 10).default(2),
  RESEND_API_KEY: z.string().min(1).optional(),
  EMAIL_FROM: z.string().min(3).default('Orderflow <orders@orderflow.local>'),
  // The email provider's rate (Resend allows a few requests a second): the `deliver` queue's limiter.
  EMAIL_RATE_MAX: int(1, 10_000).default(2),
  EMAIL_RATE_DURATION_MS: int(1, 3_600_000).default(1000),
  // Messages per provider request (Resend's batch endpoint takes up to 100), and how long a request
  // waits for company when fewer are at hand. At EMAIL_RATE_MAX 2 that is up to 200 emails a second.
  EMAIL_BATCH_SIZE: int(1, 100).default(100),
  EMAIL_BATCH_LINGER_MS: int(0, 1000).default(10),
  // A worker process run alone serves /metrics on this port (off when unset), on this address: loopback
  // unless the operator opens it (a pod's scraper needs 0.0.0.0).
  WORKER_METRICS_PORT: int(1, 65535).optional(),
  WORKER_METRICS_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.:-]+$/, 'an address or host name (0.0.0.0: every interface)')
    .default('127.0.0.1'),
  WORKER_CONCURRENCY: int(1, 1000).default(20),
  // Group commit: a worker runs up to this many waiting jobs of one saga step (the API: of POST
  // /orders) in one transaction (1 = one at a time). Saga steps: while fewer than
  // GROUP_COMMIT_IN_FLIGHT batches of the step are running, a job's batch starts at once; otherwise jobs
  // gather until a running batch ends, the batch is full, or GROUP_COMMIT_HOLD_MS after the first
  // arrived (a bound for a slow batch). GROUP_COMMIT_IN_FLIGHT=0, and always for POST /orders (which
  // starts at once after a quiet spell) and `deliver`'s grouped reads and records: a batch starts when
  // full or GROUP_COMMIT_WAIT_MS after its first job, however many are running.
  GROUP_COMMIT_MAX: int(1, 1000).default(50),
  GROUP_COMMIT_WAIT_MS: int(0, 1000).default(2),
  GROUP_COMMIT_IN_FLIGHT: int(0, 1000).default(1),
  GROUP_COMMIT_HOLD_MS: int(0, 10_000).default(20),
  JOB_ATTEMPTS: int(1, 100).default(8),
  JOB_BACKOFF_MS: int(1, 600_000).default(1000),
  WORKER_LOCK_MS: int(1000, 600_000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: int(500, 600_000).default(15_000),
  WORKER_MAX_STALLED: int(0, 100).default(3),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(20_000),
  // `bun run start` supervises this many API processes (sharing PORT) and worker processes. The cores
  // are split between the two: the API parses and answers, the workers drive the saga.
  // Set by `bun run start` for its children (not an operator's setting): the supervisor they must
  // outlive by nothing, even when it dies before their start-up is over.
  SUPERVISOR_PID: int(1, 2 ** 31 - 1).optional(),
  // Also set by `bun run start` for its children: each serves its metrics registry on this loopback
  // port (Bearer METRICS_PEER_SECRET), and an API process's /metrics merges those of METRICS_PEERS
  // (`name=port,…`, every child), so one scrape covers the whole supervised machine.
  METRICS_PEER_PORT: int(1, 65535).optional(),
  METRICS_PEERS: z
    .string()
    .regex(/^[\w-]+=\d{1,5}(,[\w-]+=\d{1,5})*$/, 'name=port,name=port,…')
    .optional(),
  METRICS_PEER_SECRET: z.string().min(16).optional(),
  API_PROCESSES: int(0, 256).default(() => Math.max(1, Math.floor(availableParallelism() / 2))),
  WORKER_PROCESSES: int(0, 256).default(() => Math.max(1, Math.ceil(availableParallelism() / 2))),
  CACHE_TTL_SECONDS: int(1, 86_400).default(60),
  BODY_LIMIT_BYTES: int(256, 10_000_000).default(64 * 1024),
  // When set, GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (401 without).
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // In production /metrics needs METRICS_TOKEN unless the operator says, with this, that it is public.
  METRICS_PUBLIC: bool.default(false),
  // How long one rendered /metrics answer serves scrapes (0: render every scrape): each render asks
  // Redis per queue and partition, so anyone who can reach /metrics must not set its pace.
  METRICS_CACHE_SECONDS: int(0, 300).default(5),
  // How long one `orders by status` count is reused by scrapes (0: count on every scrape).
  METRICS_ORDERS_CACHE_SECONDS: int(0, 3600).default(15),
  // Bun closes a connection that moves no bytes for this long (its own default is 10 s). Live
  // streams stay open past it by sending a heartbeat every LIVE_HEARTBEAT_SECONDS (checked below).
  HTTP_IDLE_TIMEOUT_SECONDS: int(8, 255).default(60),
  LIVE_HEARTBEAT_SECONDS: int(1, 120).default(15),
  // A followed order is read again after this long without a read even while pub/sub is healthy: a
  // publish that was lost (Redis failed over between our commit and the PUBLISH) costs at most this.
  LIVE_SAFETY_RECHECK_SECONDS: int(1, 3600).default(30),
  // Open live-tracking connections (SSE streams plus WebSockets), per user and in all, per API process.
  LIVE_MAX_PER_USER: int(1, 10_000).default(10),
  LIVE_MAX_PER_PROCESS: int(1, 1_000_000).default(2000),
  // WebSocket: orders one connection may follow, time to send the auth message, and the bytes a
  // slow reader may leave unsent before it is dropped.
  WS_MAX_SUBSCRIPTIONS: int(1, 10_000).default(100),
  WS_AUTH_TIMEOUT_SECONDS: int(1, 300).default(10),
  WS_MAX_BUFFERED_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  // Messages one WebSocket may send: a budget refilled at this rate up to a burst (a client resubscribing
  // its WS_MAX_SUBSCRIPTIONS orders at once fits); past it messages are refused. At most this many
  // accepted messages wait to be handled (each subscribe reads MySQL): past it the socket is closed.
  WS_MESSAGES_PER_SECOND: int(1, 10_000).default(20),
  WS_MESSAGE_BURST: int(1, 100_000).default(120),
  WS_MAX_QUEUED_MESSAGES: int(1, 100_000).default(128),
  // How much the JavaScript heap may allocate between two collections, as a multiple of what the last
  // collection kept (JSC's `heapGrowthMaxIncrease`; JSC's own, 2, lets it triple). Lower keeps resident
  // memory down (peaks of ~140 MB per process under load at 0.25, ~200 MB at 2) for some collector
  // CPU. JSC reads it once, when the process starts: lib/js-heap.ts hands it over, with the eden ratio
  // that keeps young collections the rule. 2 leaves JSC's defaults alone.
  JS_HEAP_GROWTH: z.coerce.number().min(0.05).max(2).default(0.25),
  // Tracing (wiring/tracing.ts), the OpenTelemetry SDK's standard variables: off while the endpoint is
  // unset. The exporter itself also reads OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT, and the resource
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (each process adds its own service.instance.id).
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  // http/json by default, not the SDK's usual http/protobuf: the SDK's protobuf writer is JavaScript
  // (hex ids to bytes, varints, string copies), JSON is mostly the native JSON.stringify; it was
  // about two fifths of what tracing added to a worker's CPU (bench/README.md). Every OTLP/HTTP
  // receiver (the Collector, Jaeger, Tempo) takes both.
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json']).default('http/json'),
  OTEL_SERVICE_NAME: z.string().min(1).max(100).optional(),
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ])
    .default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  // The batch span processor's queue is bounded: with the collector away, spans past it are dropped
  // (never memory that grows); a full batch, or the delay, sends what is queued.
  OTEL_BSP_MAX_QUEUE_SIZE: int(1, 1_000_000).default(2048),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: int(1, 100_000).default(512),
  OTEL_BSP_SCHEDULE_DELAY: int(0, 600_000).default(5000),
  OTEL_BSP_EXPORT_TIMEOUT: int(1, 600_000).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Every variable the configuration reads (deploy/ manifests may name no other). */
export const configVariables = Object.keys(schema.shape);

export type Config = z.infer<typeof schema> & { jwtSecret: string; piiKey: Uint8Array<ArrayBuffer> };

export class ConfigError extends Error {}

/** Which process reads the configuration: a worker signs and verifies no tokens (no JWT_SECRET). */
export type ConfigRole = 'api' | 'worker';

/** Parses the environment once at start; a bad value names its variable. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  role: ConfigRole = 'api',
): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  // On a cluster every key of one flow must share a slot (BullMQ's scripts touch several keys at once):
  // an untagged prefix is tagged, so `orderflow` becomes `{orderflow}`.
  if (c.REDIS_CLUSTER_NODES && !/\{[^}]+\}/.test(c.QUEUE_PREFIX)) c.QUEUE_PREFIX = `{${c.QUEUE_PREFIX}}`;
  if (c.NODE_ENV === 'production' && !c.JWT_SECRET && role === 'api') {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production');
  }
  if (c.NODE_ENV === 'production' && !c.PII_KEY) {
    throw new ConfigError('Invalid configuration:\n  PII_KEY: required when NODE_ENV=production');
  }
  if (c.NODE_ENV === 'production' && !c.METRICS_TOKEN && !c.METRICS_PUBLIC) {
    throw new ConfigError(
      'Invalid configuration:\n  METRICS_TOKEN: required when NODE_ENV=production (or METRICS_PUBLIC=on to serve /metrics to anyone)',
    );
  }
  if ((c.ADMIN_EMAIL === undefined) !== (c.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('Invalid configuration:\n  ADMIN_EMAIL, ADMIN_PASSWORD: set both or neither');
  }
  if (c.PAYMENT_GATEWAY === 'stripe') {
    for (const name of ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] as const) {
      if (!c[name])
        throw new ConfigError(`Invalid configuration:\n  ${name}: required when PAYMENT_GATEWAY=stripe`);
    }
  }
  if (c.OTEL_BSP_MAX_EXPORT_BATCH_SIZE > c.OTEL_BSP_MAX_QUEUE_SIZE) {
    throw new ConfigError(
      'Invalid configuration:\n  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must be at most OTEL_BSP_MAX_QUEUE_SIZE',
    );
  }
  if (c.LIVE_HEARTBEAT_SECONDS * 2 > c.HTTP_IDLE_TIMEOUT_SECONDS) {
    // One heartbeat may be late or lost under load; two per idle period keep a quiet stream open.
    throw new ConfigError(
      'Invalid configuration:\n  LIVE_HEARTBEAT_SECONDS: must be at most half of HTTP_IDLE_TIMEOUT_SECONDS',
    );
  }
  const jwtSecret = c.JWT_SECRET ?? randomSecret();
  if (!c.JWT_SECRET && c.NODE_ENV !== 'test' && role === 'api') {
    console.warn(
      '[config] JWT_SECRET is not set: using a random one; tokens die when this process (or `bun run start`) stops.',
    );
  }
  // Outside production a fixed development key keeps stored phones readable across restarts;
  // production refuses to start without PII_KEY (above).
  const piiKey = c.PII_KEY
    ? new Uint8Array(Buffer.from(c.PII_KEY, 'base64'))
    : new Uint8Array(new Bun.CryptoHasher('sha256').update('orderflow-development-pii-key').digest());
  return { ...c, jwtSecret, piiKey };
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}
