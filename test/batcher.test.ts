import { describe, expect, spyOn, test } from 'bun:test';
import { type ItemResult, MicroBatcher } from '../lib/batcher';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('MicroBatcher with startWhenIdle (POST /orders)', () => {
  test('a lone item runs at the end of its turn; items that come while a batch runs wait and go together', async () => {
    const calls: string[][] = [];
    const held: (() => void)[] = [];
    const b = new MicroBatcher<string, string>(
      async (keys) => {
        calls.push(keys);
        await new Promise<void>((resolve) => held.push(resolve));
        return new Map<string, ItemResult<string>>(
          keys.map((k) => [k, { ok: true, value: k.toUpperCase() }]),
        );
      },
      // A wait far longer than the test: an idle batcher must not use it.
      { maxSize: 10, maxWaitMs: 60_000, startWhenIdle: true },
    );
    // Two in the same turn go together, at once.
    const a = b.submit('a');
    const a2 = b.submit('a2');
    await nextTurn();
    expect(calls).toEqual([['a', 'a2']]);

    // While that batch runs, later items wait (for the wait, or a full batch) instead of starting alone.
    const later = ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map((k) => b.submit(k));
    await nextTurn();
    expect(calls).toHaveLength(1);
    const full = b.submit('k'); // the tenth waiting item fills the batch
    expect(calls[1]).toEqual(['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']);
    for (const release of held) release();
    expect(await Promise.all([a, a2, ...later, full])).toEqual([
      'A',
      'A2',
      'B',
      'C',
      'D',
      'E',
      'F',
      'G',
      'H',
      'I',
      'J',
      'K',
    ]);
  });

  test('after a quiet spell of maxWaitMs the next item starts at once; one that follows closely waits', async () => {
    const calls: string[][] = [];
    const b = new MicroBatcher<string, string>(
      async (keys) => {
        calls.push(keys);
        return new Map<string, ItemResult<string>>(keys.map((k) => [k, { ok: true, value: k }]));
      },
      { maxSize: 10, maxWaitMs: 40, startWhenIdle: true },
    );
    // The batcher's clock is the test's: "a quiet spell" and "closely" are exact, however slow the machine.
    let now = 1000;
    const clock = spyOn(performance, 'now').mockImplementation(() => now);
    try {
      expect(await b.submit('x')).toBe('x');
      now += 60;
      const y = b.submit('y');
      await nextTurn();
      expect(calls).toEqual([['x'], ['y']]);
      await y;
      // Nothing runs, but 'y' came less than maxWaitMs ago: requests are coming, wait for company.
      now += 5;
      const z = b.submit('z');
      const z2 = b.submit('z2');
      await nextTurn();
      expect(calls).toHaveLength(2);
      expect(await Promise.all([z, z2])).toEqual(['z', 'z2']);
      expect(calls.at(-1)).toEqual(['z', 'z2']);
    } finally {
      clock.mockRestore();
    }
  });

  test('without it, a lone item waits maxWaitMs (the workers keep this)', async () => {
    const calls: string[][] = [];
    const b = new MicroBatcher<string, string>(
      async (keys) => {
        calls.push(keys);
        return new Map<string, ItemResult<string>>(keys.map((k) => [k, { ok: true, value: k }]));
      },
      { maxSize: 10, maxWaitMs: 30 },
    );
    const a = b.submit('a');
    await nextTurn();
    expect(calls).toEqual([]);
    expect(await a).toBe('a');
    expect(calls).toEqual([['a']]);
  });
});
