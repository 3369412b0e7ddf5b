import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { queueNames } from '../queues/contract';
import { parseWorkerArgs } from '../workers/main';
import { killProcess, spawnWorkerProcess, type WorkerProcess } from './support/faults';
import { createHarness, type Harness } from './support/harness';

describe('worker --queues … --concurrency … parsing', () => {
  test.each([
    [[], { queues: [...queueNames], concurrency: 20, partitions: [0] }],
    [['--queues', 'reserve,charge'], { queues: ['reserve', 'charge'], concurrency: 20, partitions: [0] }],
    [['--queues=notify', '--concurrency=7'], { queues: ['notify'], concurrency: 7, partitions: [0] }],
    // A trailing comma is harmless: the empty name is dropped.
    [['--queues', 'reserve,'], { queues: ['reserve'], concurrency: 20, partitions: [0] }],
    [
      ['--', '--queues', ' deliver , deliver ', '--concurrency', '1000'],
      { queues: ['deliver'], concurrency: 1000, partitions: [0] },
    ],
    // The supervisor names its children (scripts/start.ts).
    [['--name', 'worker-2'], { queues: [...queueNames], concurrency: 20, partitions: [0], name: 'worker-2' }],
  ])('%p is accepted', (argv, expected) => {
    expect(parseWorkerArgs(argv, 20)).toEqual(expected as ReturnType<typeof parseWorkerArgs>);
  });

  test.each([
    [['--queues', 'bogus'], '--queues: unknown queue bogus'],
    [['--queues', ''], '--queues: name at least one'],
    [['--queues=', '--concurrency', '2'], '--queues: name at least one'],
    [['--queues', ','], '--queues: name at least one'],
    [['--queues'], '--queues: a value is missing'],
    [['--queues', '--concurrency', '5'], '--queues: a value is missing'],
    [['--queue', 'reserve'], 'unknown argument "--queue"'],
    [['reserve'], 'unknown argument "reserve"'],
    [['--concurrency', '0'], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', '1001'], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', '2.5'], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', '-3'], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', '0x10'], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', '1e2'], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', ''], '--concurrency: a whole number from 1 to 1000'],
    [['--concurrency', 'ten'], '--concurrency: a whole number from 1 to 1000, not "ten"'],
    [['--concurrency=5', '--concurrency=6'], '--concurrency: given twice'],
    // One partition (QUEUE_PARTITIONS unset): only partition 0 exists.
    [['--partitions', '1'], '--partitions: unknown partition 1 (QUEUE_PARTITIONS=1: 0..0)'],
  ])('%p is refused', (argv, message) => {
    expect(() => parseWorkerArgs(argv, 20)).toThrow(message);
  });
});

describe('the worker process refuses bad arguments', () => {
  let h: Harness;
  const started: WorkerProcess[] = [];
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await Promise.all(started.map(killProcess));
    await h.cleanup();
  });

  test.each([
    [['--queues', 'reserve,bogus'], '--queues: unknown queue bogus'],
    [['--concurrency', 'lots'], '--concurrency: a whole number from 1 to 1000'],
    [['--queue', 'reserve'], 'unknown argument "--queue"'],
  ])(
    '%p: exits 2 with the reason, having started nothing',
    async (argv, message) => {
      const p = spawnWorkerProcess(h, { LOG_LEVEL: 'info' }, argv);
      started.push(p);
      const code = await Promise.race([p.proc.exited, Bun.sleep(20_000).then(() => 'still running')]);
      expect({ code, output: p.output().trim() }).toEqual({
        code: 2,
        output: expect.stringContaining(message),
      });
      expect(p.output()).not.toContain('workers started');
      const workers = await Promise.all(
        Object.values(h.deps.queues.queues).map((q) => q.getWorkers().then((l) => l.length)),
      );
      expect(workers.every((n) => n === 0)).toBe(true);
    },
    30_000,
  );
});
