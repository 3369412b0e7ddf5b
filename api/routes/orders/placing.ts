import { placeOrders } from '../../../domain/orders/place-batch';
import { type Placed, type PlaceOrderInput, placeOrder } from '../../../domain/orders/place-one';
import { MicroBatcher, withFallback } from '../../../lib/batcher';
import { propagationMetadata } from '../../../lib/tracing';
import type { AppDeps } from '../../deps';

export interface PlaceRequest extends PlaceOrderInput {
  withPayment: boolean;
  requestId?: string | undefined;
}

/** A request as the batcher holds it: with its own trace, which its order's flow must continue. */
interface Pending {
  request: PlaceRequest;
  trace: string | undefined;
}

/**
 * `POST /orders` with group commit: the requests that arrive within a couple of milliseconds are
 * stored in one transaction and their flows added in one round trip. Each request still gets its
 * own answer (a replayed Idempotency-Key among them is found before the write and answered on its
 * own); a batch that fails as a whole and provably stored nothing (placeOrders looks its ids up first)
 * is placed again one request at a time. A flow that cannot be added (Redis down) is left to the reconciler, as
 * before: the orders are safe in MySQL.
 */
export function orderPlacer(deps: AppDeps): (request: PlaceRequest) => Promise<Placed> {
  const limits = { maxOrders: deps.config.MAX_UNPAID_ORDERS, maxUnits: deps.config.MAX_UNPAID_UNITS };
  const start = async (done: { pending: Pending; placed: Placed }[]) => {
    const created = done.flatMap(({ pending: { request, trace }, placed }) =>
      placed.created
        ? [{ orderId: placed.orderId, withPayment: request.withPayment, requestId: request.requestId, trace }]
        : [],
    );
    try {
      await deps.queues.startOrders(created);
    } catch (err) {
      deps.logger.error(
        { err, orderIds: created.map((c) => c.orderId) },
        'could not queue the order flows; left to the reconciler',
      );
    }
  };
  const batcher = new MicroBatcher<Pending, Placed>(
    withFallback(
      async (pending) => {
        const results = await placeOrders(
          deps.db,
          deps.orders.events,
          pending.map((p) => p.request),
          limits,
          deps.writeTransaction,
        );
        await start(
          pending.flatMap((p, i) => {
            const r = results[i];
            return r?.ok ? [{ pending: p, placed: r.value }] : [];
          }),
        );
        return new Map(
          pending.map((p, i) => [p, results[i] ?? { ok: false, error: new Error('no answer') }]),
        );
      },
      async (pending) => {
        const placed = await placeOrder(deps.db, deps.orders.events, pending.request, limits);
        await start([{ pending, placed }]);
        return placed;
      },
      (err, size) =>
        deps.logger.warn({ err, size }, 'placing a batch of orders failed as a whole; one by one'),
    ),
    {
      maxSize: deps.config.GROUP_COMMIT_MAX,
      maxWaitMs: deps.config.GROUP_COMMIT_WAIT_MS,
      startWhenIdle: true,
      traceName: 'place batch',
    },
  );
  // The request's trace goes with it: one addBulk carries many requests' flows, each joins its own.
  return (request) => batcher.submit({ request, trace: propagationMetadata() });
}
