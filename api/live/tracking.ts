import { Counter, Gauge } from 'prom-client';
import type { Config } from '../../lib/config';
import type { RedisClient } from '../../lib/redis';
import type { Metrics } from '../../wiring/metrics';
import type { ReadTrigger } from './follow';
import { OrderEventHub } from './hub';
import { LiveSlots } from './slots';

type LiveSettings = Pick<
  Config,
  | 'QUEUE_PREFIX'
  | 'LIVE_HEARTBEAT_SECONDS'
  | 'LIVE_SAFETY_RECHECK_SECONDS'
  | 'LIVE_MAX_PER_USER'
  | 'LIVE_MAX_PER_PROCESS'
  | 'WS_MAX_SUBSCRIPTIONS'
  | 'WS_AUTH_TIMEOUT_SECONDS'
  | 'WS_MAX_BUFFERED_BYTES'
  | 'WS_MESSAGES_PER_SECOND'
  | 'WS_MESSAGE_BURST'
  | 'WS_MAX_QUEUED_MESSAGES'
>;

/**
 * Everything live tracking shares in one API process: the pub/sub hub, the connection caps, the
 * open connections (so that shutdown can end them) and their metrics. SSE and WebSocket use it alike.
 */
export class LiveTracking {
  readonly hub: OrderEventHub;
  readonly slots: LiveSlots;
  readonly heartbeatMs: number;
  /** How long a follower goes without a read while pub/sub is healthy (LIVE_SAFETY_RECHECK_SECONDS). */
  readonly safetyRecheckMs: number;
  /** MySQL reads of followed orders, by trigger; `poll` stays 0 while pub/sub is healthy. */
  readonly reads: Record<ReadTrigger, number> = {
    open: 0,
    event: 0,
    resync: 0,
    poll: 0,
    safety: 0,
    access: 0,
  };
  /** WebSocket messages received from clients, and those refused (over a connection's budget). */
  readonly wsMessages = { received: 0, refused: 0 };
  private readonly readCounter: Counter<'trigger'>;
  private readonly refusals: Counter<'transport' | 'cap'>;
  private readonly refusedMessages: Counter;
  private readonly enders = new Set<() => void>();

  constructor(
    redis: RedisClient,
    readonly settings: LiveSettings,
    metrics: Metrics,
  ) {
    this.hub = new OrderEventHub(redis, settings.QUEUE_PREFIX);
    this.slots = new LiveSlots(settings.LIVE_MAX_PER_USER, settings.LIVE_MAX_PER_PROCESS);
    this.heartbeatMs = settings.LIVE_HEARTBEAT_SECONDS * 1000;
    this.safetyRecheckMs = settings.LIVE_SAFETY_RECHECK_SECONDS * 1000;
    // Several apps may share one registry (tests build a second app on the same deps): register once.
    const registry = metrics.registry;
    const registers = [registry];
    this.readCounter =
      (registry.getSingleMetric('live_order_reads_total') as Counter<'trigger'> | undefined) ??
      new Counter({
        name: 'live_order_reads_total',
        help: 'MySQL reads of orders by live tracking, by trigger (open, event, resync, poll, safety, access)',
        labelNames: ['trigger'],
        registers,
      });
    this.refusals =
      (registry.getSingleMetric('live_connections_refused_total') as
        | Counter<'transport' | 'cap'>
        | undefined) ??
      new Counter({
        name: 'live_connections_refused_total',
        help: 'Live-tracking connections refused at a cap, by transport (sse, ws) and cap (user, process)',
        labelNames: ['transport', 'cap'],
        registers,
      });
    this.refusedMessages =
      (registry.getSingleMetric('ws_messages_refused_total') as Counter | undefined) ??
      new Counter({
        name: 'ws_messages_refused_total',
        help: 'WebSocket messages dropped because their connection was over its budget (WS_MESSAGES_PER_SECOND)',
        registers,
      });
    if (!registry.getSingleMetric('live_connections')) {
      const slots = this.slots;
      const hub = this.hub;
      new Gauge({
        name: 'live_connections',
        help: 'Open live-tracking connections (SSE streams and WebSockets) in this process',
        registers,
        collect() {
          this.set(slots.open);
        },
      });
      new Gauge({
        name: 'live_pubsub_connected',
        help: '1 while the live-tracking Redis subscriber is connected',
        registers,
        collect() {
          this.set(hub.status.connected ? 1 : 0);
        },
      });
    }
  }

  countRead(trigger: ReadTrigger): void {
    this.reads[trigger]++;
    this.readCounter.inc({ trigger });
  }

  refused(transport: 'sse' | 'ws', cap: 'user' | 'process'): void {
    this.refusals.inc({ transport, cap });
  }

  refusedMessage(): void {
    this.wsMessages.refused++;
    this.refusedMessages.inc();
  }

  /** Registers how to end one open connection at shutdown; returns its unregister function. */
  track(end: () => void): () => void {
    this.enders.add(end);
    return () => this.enders.delete(end);
  }

  /** Ends every open stream and socket (before the server stops, which would wait for them). */
  endAll(): void {
    for (const end of [...this.enders]) end();
    this.enders.clear();
  }

  close(): void {
    this.endAll();
    this.hub.close();
  }
}
