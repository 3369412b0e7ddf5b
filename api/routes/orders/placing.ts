import { placeOrders } from '../../../domain/orders/place-batch';
import { type Placed, type PlaceOrderInput, placeOrder } from '../../../domain/orders/place-one';
import { MicroBatcher, withFallback } from '../../../lib/batcher';
import type { AppDeps } from '../../deps';

export interface PlaceRequest extends PlaceOrderInput {
  withPayment: boolean;
  requestId?: string | undefined;
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
  const start = async (done: { request: PlaceRequest; placed: Placed }[]) => {
    const created = done.flatMap(({ request, placed }) =>
      placed.created
        ? [{ orderId: placed.orderId, withPayment: request.withPayment, requestId: request.requestId }]
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
  const batcher = new MicroBatcher<PlaceRequest, Placed>(
    withFallback(
      async (requests) => {
        const results = await placeOrders(
          deps.db,
          deps.orders.events,
          requests,
          limits,
          deps.writeTransaction,
        );
        await start(
          requests.flatMap((request, i) => {
            const r = results[i];
            return r?.ok ? [{ request, placed: r.value }] : [];
          }),
        );
        return new Map(
          requests.map((r, i) => [r, results[i] ?? { ok: false, error: new Error('no answer') }]),
        );
      },
      async (request) => {
        const placed = await placeOrder(deps.db, deps.orders.events, request, limits);
        await start([{ request, placed }]);
        return placed;
      },
      (err, size) =>
        deps.logger.warn({ err, size }, 'placing a batch of orders failed as a whole; one by one'),
    ),
    {
      maxSize: deps.config.GROUP_COMMIT_MAX,
      maxWaitMs: deps.config.GROUP_COMMIT_WAIT_MS,
      startWhenIdle: true,
    },
  );
  return (request) => batcher.submit(request);
}
