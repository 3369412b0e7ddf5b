/**
 * `--webhook`: one local webhook endpoint subscribed to every event, so a run measures what the
 * outbox's deliveries cost (dispatch, the endpoint's batch jobs, one signed POST per event over
 * kept-alive connections) beside the orders. The
 * receiver answers 204 at once and counts deliveries; the workers are started with
 * WEBHOOK_ALLOW_PRIVATE=on (it is on loopback).
 */
import type { Db } from '../db/client';
import { createEndpoint } from '../domain/webhooks/endpoints';
import type { Config } from '../lib/config';

export interface BenchReceiver {
  received(): number;
  stop(): Promise<void>;
}

export async function subscribeEverything(db: Db, config: Config): Promise<BenchReceiver> {
  let count = 0;
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch() {
      count++;
      return new Response(null, { status: 204 });
    },
  });
  await createEndpoint(
    db,
    config.piiKey,
    { url: `http://127.0.0.1:${server.port}/bench`, events: ['*'], description: 'bench --webhook' },
    { allowPrivate: true, resolve: async () => [] },
  );
  return {
    received: () => count,
    async stop() {
      await server.stop(true);
    },
  };
}
