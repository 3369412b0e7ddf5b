import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test';
import type { RowDataPacket } from 'mysql2';
import { eventsStatement, type NewEvent, recordEvents } from '../domain/outbox/write';
import { activeTraceParent, itemTraceParent, setTracing } from '../lib/tracing';
import { createHarness, type Harness } from './support/harness';

// The outbox row's traceparent (migration 0010): written when tracing is on, and with tracing off
// the INSERT is the statement it was before (no column named, no parameter added, NULL stored).
// test/tracing.test.ts checks what it is for: webhook deliveries in the order's trace.
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
}, 30_000);
afterAll(() => h.cleanup(), 30_000);
afterEach(() => setTracing(false));

const TRACE_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const event = (orderId: string, traceParent?: string): NewEvent => ({
  type: 'order.created',
  orderId,
  at: new Date(),
  ...(traceParent ? { traceParent } : {}),
});

async function storedTraceParents(orderIds: string[]): Promise<(string | null)[]> {
  const [rows] = await h.pool.query<RowDataPacket[]>(
    'SELECT trace_parent AS t FROM events WHERE order_id IN (?) ORDER BY id',
    [orderIds],
  );
  return rows.map((r) => r.t as string | null);
}

test('tracing off: the helpers give no traceparent, the INSERT names no trace_parent, NULL is stored', async () => {
  expect(activeTraceParent()).toBeUndefined();
  expect(itemTraceParent('ord_x')).toBeUndefined();
  // Even one handed in is not written while tracing is off: the statement is the old one.
  const events = [event('ord_tp_off_1', TRACE_PARENT), event('ord_tp_off_2')];
  const statement = eventsStatement(events);
  expect(statement.sql).not.toContain('trace_parent');
  expect(statement.params).toHaveLength(2 * 4);
  await h.db.transaction((tx) => recordEvents(tx, events));
  expect(await storedTraceParents(['ord_tp_off_1', 'ord_tp_off_2'])).toEqual([null, null]);
});

test('tracing on: each row keeps its own traceparent, in one multi-row INSERT; NULL where none', async () => {
  setTracing(true);
  const events = [event('ord_tp_on_1', TRACE_PARENT), event('ord_tp_on_2')];
  const statement = eventsStatement(events);
  expect(statement.sql.match(/INSERT INTO/g)).toHaveLength(1);
  expect(statement.params).toHaveLength(2 * 5);
  await h.db.transaction((tx) => recordEvents(tx, events));
  expect(await storedTraceParents(['ord_tp_on_1', 'ord_tp_on_2'])).toEqual([TRACE_PARENT, null]);
});
