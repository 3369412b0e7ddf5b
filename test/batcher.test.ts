import { describe, expect, test } from 'bun:test';
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

    // Idle again: the next lone item starts at once.
    const l = b.submit('l');
    await nextTurn();
    expect(calls.at(-1)).toEqual(['l']);
    for (const release of held) release();
    expect(await l).toBe('L');
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
