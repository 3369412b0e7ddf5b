import { renderEvents } from '../../domain/orders/event-data';
import type { EventRow } from '../../domain/outbox/types';
import type { DeliverySettings } from '../../domain/webhooks/deliver';
import type { Harness } from './harness';

/**
 * What an endpoint's job sends with, for a test that calls `deliverEndpoint` itself: this test's key
 * and rendering, five sends in flight, batches of 100, a 5 s timeout, retries a minute apart; the
 * guard (and anything else) as the test says.
 */
export function deliverySettingsFor(
  h: Harness,
  settings: Pick<DeliverySettings, 'guard'> & Partial<DeliverySettings>,
): DeliverySettings {
  return {
    key: h.config.piiKey,
    retry: { baseSeconds: 60, maxAttempts: 3 },
    timeoutMs: 5000,
    render: (rows: readonly EventRow[]) => renderEvents(h.db, rows),
    concurrency: 5,
    batchSize: 100,
    budgetMs: 10_000,
    ...settings,
  };
}
