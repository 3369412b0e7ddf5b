import { describe, expect, test } from 'bun:test';
import { type ItemResult, MicroBatcher } from '../lib/batcher';

/** A batch function whose batches stay open until the test lets them end. */
function heldBatches() {
  const batches: string[][] = [];
  const release: (() => void)[] = [];
  const run = async (keys: string[]): Promise<Map<string, ItemResult<string>>> => {
    batches.push(keys);
    await new Promise<void>((resolve) => release.push(resolve));
    return new Map(keys.map((k) => [k, { ok: true, value: k.toUpperCase() }]));
  };
  return { batches, release, run };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('the micro-batcher, in-flight policy (classic group commit)', () => {
  test('with nothing running, a job goes at once: it does not wait maxWaitMs for company', async () => {
    const h = heldBatches();
    // A minute's wait: under the timer policy the lone job would still be waiting after a turn.
    const b = new MicroBatcher<string, string>(h.run, { maxSize: 50, maxWaitMs: 60_000, maxInFlight: 1 });
    const a = b.submit('a');
    await turn();
    expect(h.batches).toEqual([['a']]);
    h.release[0]?.();
    expect(await a).toBe('A');
  });

  test('jobs handed over together go together; jobs that come while a batch runs gather and go when it ends', async () => {
    const h = heldBatches();
    const b = new MicroBatcher<string, string>(h.run, { maxSize: 50, maxWaitMs: 60_000, maxInFlight: 1 });
    const first = ['a', 'b'].map((k) => b.submit(k));
    await turn();
    expect(h.batches).toEqual([['a', 'b']]);
    const second = ['c', 'd', 'e'].map((k) => b.submit(k));
    await sleep(30);
    // Still one batch: the others wait for it, not for a timer.
    expect(h.batches).toEqual([['a', 'b']]);
    h.release[0]?.();
    expect(await Promise.all(first)).toEqual(['A', 'B']);
    await turn();
    expect(h.batches).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    h.release[1]?.();
    expect(await Promise.all(second)).toEqual(['C', 'D', 'E']);
  });

  test('a full batch goes even while another runs; a slow batch holds the next one at most maxWaitMs', async () => {
    const h = heldBatches();
    const b = new MicroBatcher<string, string>(h.run, { maxSize: 2, maxWaitMs: 40, maxInFlight: 1 });
    const a = b.submit('a');
    await turn();
    const full = ['b', 'c'].map((k) => b.submit(k));
    expect(h.batches).toEqual([['a'], ['b', 'c']]);
    const late = b.submit('d');
    await turn();
    expect(h.batches.length).toBe(2);
    // Neither running batch ends; after maxWaitMs the waiting job goes anyway.
    await sleep(80);
    expect(h.batches).toEqual([['a'], ['b', 'c'], ['d']]);
    for (const r of h.release) r();
    expect(await Promise.all([a, ...full, late])).toEqual(['A', 'B', 'C', 'D']);
  });

  test('up to maxInFlight batches run before jobs wait; a duplicate waits for the next batch', async () => {
    const h = heldBatches();
    const b = new MicroBatcher<string, string>(h.run, { maxSize: 50, maxWaitMs: 60_000, maxInFlight: 2 });
    const one = b.submit('a');
    await turn();
    const two = ['b', 'b'].map((k) => b.submit(k));
    await turn();
    expect(h.batches).toEqual([['a'], ['b']]);
    const three = b.submit('c');
    await sleep(20);
    expect(h.batches).toEqual([['a'], ['b']]);
    h.release[0]?.();
    expect(await one).toBe('A');
    await turn();
    // The duplicate 'b' and 'c' went together when a batch ended.
    expect(h.batches).toEqual([['a'], ['b'], ['b', 'c']]);
    for (const r of h.release) r();
    expect(await Promise.all([...two, three])).toEqual(['B', 'B', 'C']);
  });
});
