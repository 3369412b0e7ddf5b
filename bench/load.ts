/** The HTTP side of a run: a closed loop (N requests in flight) or an open loop (R requests a second). */

export interface Accepted {
  id: string;
  /** Wall-clock ms when the 202 arrived. */
  at: number;
}

export interface LoadResult {
  offered: number;
  accepted: Accepted[];
  /** `POST /orders` round-trip times of the accepted requests, ms. */
  latencies: number[];
  refused: number;
  /** Requests an open loop could not send because too many were still unanswered. */
  dropped: number;
  seconds: number;
}

export interface LoadTarget {
  url: string;
  token: string;
  productIds: string[];
}

let seq = 0;

function orderBody(products: string[]): string {
  // One or two lines, rotating over the catalogue: reservations contend for a handful of stock rows.
  const n = seq++;
  const first = products[n % products.length] as string;
  const items = [{ productId: first, quantity: 1 }];
  if (n % 2 === 1) items.push({ productId: products[(n + 1) % products.length] as string, quantity: 1 });
  return JSON.stringify({ items, payment: { token: 'tok_visa' } });
}

async function placeOne(target: LoadTarget, result: LoadResult): Promise<void> {
  const t = performance.now();
  result.offered++;
  try {
    const res = await fetch(`${target.url}/orders`, {
      method: 'POST',
      body: orderBody(target.productIds),
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${target.token}`,
        'idempotency-key': crypto.randomUUID(),
      },
    });
    const text = await res.text();
    if (res.status !== 202) {
      result.refused++;
      if (result.refused <= 3) console.error(`POST /orders answered ${res.status}: ${text.slice(0, 200)}`);
      return;
    }
    result.latencies.push(performance.now() - t);
    result.accepted.push({ id: (JSON.parse(text) as { id: string }).id, at: Date.now() });
  } catch (err) {
    result.refused++;
    if (result.refused <= 3) console.error(`POST /orders failed: ${(err as Error).message}`);
  }
}

const empty = (): LoadResult => ({
  offered: 0,
  accepted: [],
  latencies: [],
  refused: 0,
  dropped: 0,
  seconds: 0,
});

export async function closedLoop(target: LoadTarget, inFlight: number, seconds: number): Promise<LoadResult> {
  const result = empty();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) await placeOne(target, result);
    }),
  );
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Sends `rate` requests a second on a fixed schedule whatever the answers do (at most `cap` unanswered). */
export async function openLoop(
  target: LoadTarget,
  rate: number,
  seconds: number,
  cap = 512,
): Promise<LoadResult> {
  const result = empty();
  const started = performance.now();
  const total = Math.round(rate * seconds);
  const pending = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    if (pending.size >= cap) {
      result.dropped++;
      continue;
    }
    const p = placeOne(target, result).finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
