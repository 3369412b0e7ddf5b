import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { parsePartitions, partitionOf, partitionPrefixes, waitListKey } from '../queues/partitions';
import { parseWorkerArgs } from '../workers/main';
import { createHarness, type Harness } from './support/harness';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

setDefaultTimeout(120_000);

describe('partition arithmetic', () => {
  test('an id always maps to the same partition, and ids spread evenly', () => {
    const ids = Array.from({ length: 3000 }, () => `ord_${crypto.randomUUID()}`);
    const counts = [0, 0, 0];
    for (const id of ids) {
      const p = partitionOf(id, 3);
      expect(partitionOf(id, 3)).toBe(p);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    for (const n of counts) expect(n).toBeGreaterThan(800);
    expect(partitionOf('anything', 1)).toBe(0);
  });

  test('one partition keeps the prefix; several get one hash tag each', () => {
    expect(partitionPrefixes('orderflow', 1)).toEqual(['orderflow']);
    expect(partitionPrefixes('{orderflow}', 1)).toEqual(['{orderflow}']);
    expect(partitionPrefixes('{orderflow}', 3)).toEqual(['{orderflow-0}', '{orderflow-1}', '{orderflow-2}']);
    expect(partitionPrefixes('orderflow', 2)).toEqual(['{orderflow-0}', '{orderflow-1}']);
    expect(waitListKey('{orderflow-1}', 'charge')).toBe('{orderflow-1}:charge:wait');
  });

  test('--partitions takes a subset, and refuses what does not exist', () => {
    expect(parsePartitions(undefined, 3)).toEqual([0, 1, 2]);
    expect(parsePartitions('2,0', 3)).toEqual([0, 2]);
    expect(() => parsePartitions('3', 3)).toThrow(
      '--partitions: unknown partition 3 (QUEUE_PARTITIONS=3: 0..2)',
    );
    expect(() => parsePartitions('a', 3)).toThrow('--partitions');
    expect(() => parsePartitions('', 3)).toThrow('--partitions');
    expect(parseWorkerArgs(['--queues', 'reserve', '--partitions', '1'], 20, 3).partitions).toEqual([1]);
  });
});

describe('QUEUE_PARTITIONS=3 on one Redis', () => {
  let h: Harness;
  let some: TestWorkers | undefined;
  let rest: TestWorkers | undefined;

  beforeAll(async () => {
    h = await createHarness({ QUEUE_PARTITIONS: '3' });
  });

  afterAll(async () => {
    await some?.stop();
    await rest?.stop();
    await h?.cleanup();
  });

  test('a worker of partitions 0 and 2 leaves partition 1 waiting; a worker of 1 finishes it', async () => {
    const admin = await h.signUp('admin');
    const s = shop(h, admin);
    const product = await s.product(1000);
    const user = await h.signUp();
    some = await startTestWorkers(h, { partitions: [0, 2] });
    const ids: string[] = [];
    for (let i = 0; i < 24; i++)
      ids.push(((await (await s.place(user.token, product, 1)).json()) as { id: string }).id);
    const byPartition = (p: number) => ids.filter((id) => h.deps.queues.partitionOf(id) === p);
    expect([0, 1, 2].every((p) => byPartition(p).length > 0)).toBe(true);
    const status = async (list: string[]) => Promise.all(list.map(async (id) => (await s.order(id)).status));
    await eventually(
      () => status([...byPartition(0), ...byPartition(2)]),
      (st) => st.every((x) => x === 'completed'),
    );
    // Partition 1's flows wait in its own list, untouched.
    expect(await status(byPartition(1))).toEqual(byPartition(1).map(() => 'pending'));
    const [, p1] = partitionPrefixes(h.prefix, 3);
    expect(await h.redis.llen(waitListKey(p1 ?? '', 'reserve'))).toBe(byPartition(1).length);

    rest = await startTestWorkers(h, { partitions: [1], queues: ['reserve', 'charge', 'notify', 'deliver'] });
    await eventually(
      () => status(ids),
      (st) => st.every((x) => x === 'completed'),
    );
  });

  test('an Idempotency-Key replay finds the first order, whose flow exists once, in its own partition', async () => {
    const admin = await h.signUp('admin');
    const s = shop(h, admin);
    const product = await s.product(10);
    const user = await h.signUp();
    // Several orders, so that some live outside partition 0.
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const key = { 'idempotency-key': `k-${crypto.randomUUID()}` };
      const first = await s.place(user.token, product, 1, 'tok_visa', key);
      const again = await s.place(user.token, product, 1, 'tok_visa', key);
      const id = ((await first.json()) as { id: string }).id;
      expect(((await again.json()) as { id: string }).id).toBe(id);
      ids.push(id);
    }
    expect(ids.some((id) => h.deps.queues.partitionOf(id) !== 0)).toBe(true);
    for (const id of ids) {
      await eventually(
        async () => (await s.order(id)).status,
        (st) => st === 'completed',
      );
      const home = h.deps.queues.partitionOf(id);
      const found = await Promise.all(
        h.deps.queues.families.map((f) =>
          f.queues.reserve.getJob(`${id}-reserve`).then((j) => j !== undefined),
        ),
      );
      expect(found).toEqual([0, 1, 2].map((p) => p === home));
    }
    expect(await s.stock(product)).toEqual({ available: 4, reserved: 0 });
    // Every message goes through the one deliver queue (partition 0), behind the one provider limiter.
    const delivered = await Promise.all(
      h.deps.queues.families.map((f) =>
        f.queues.deliver.getJobCountByTypes('completed', 'waiting', 'active', 'delayed'),
      ),
    );
    expect(delivered[0]).toBeGreaterThanOrEqual(ids.length);
    expect(delivered.slice(1)).toEqual([0, 0]);
  });

  test('/metrics labels every partition and stays valid Prometheus text', async () => {
    const text = await (await h.json('GET', '/metrics')).text();
    for (const p of [0, 1, 2]) {
      expect(text).toContain(`bullmq_jobs{queue="reserve", state="waiting", partition="${p}"}`);
      expect(text).toContain(`bullmq_oldest_waiting_seconds{queue="reserve",partition="${p}"}`);
    }
    const bin = Bun.which('promtool');
    if (!bin)
      throw new Error('promtool is missing: run .ci/system-deps (installs Debian package prometheus)');
    const proc = Bun.spawn([bin, 'check', 'metrics'], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
    proc.stdin.write(text);
    await proc.stdin.end();
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(code, out + err).toBe(0);
  });
});
