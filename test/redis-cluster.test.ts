import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { OrderEventHub } from '../api/live/hub';
import { partitionPrefixes } from '../queues/partitions';
import { createHarness, type Harness, uniqueSuffix } from './support/harness';
import { statuses } from './support/orders';
import { startCluster, type TestCluster } from './support/redis-cluster';
import { shop } from './support/shop';
import { eventually, startTestWorkers, type TestWorkers } from './support/workers';

// A cluster of real redis-server processes is started, created, and (below) broken: seconds each.
setDefaultTimeout(180_000);

const PASSWORD = 'correct horse battery';
const basic = (email: string) => `Basic ${Buffer.from(`${email}:${PASSWORD}`).toString('base64')}`;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
});

afterAll(async () => {
  await cluster?.stop();
});

/** Which master holds a key (its slot's owner), by asking each node whether the key exists there. */
function nodeOf(key: string): number | undefined {
  return cluster.ports.find((p) => cluster.cli(p, 'exists', key).trim() === '1');
}

describe('one flow family on a Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  let h: Harness;
  let workers: TestWorkers;

  beforeAll(async () => {
    h = await createHarness({ REDIS_CLUSTER_NODES: cluster.nodes, RATE_LIMITS: 'on' });
    workers = await startTestWorkers(h);
  });

  afterAll(async () => {
    await workers?.stop();
    await h?.cleanup();
  });

  test('the prefix is hash-tagged, and orders run to completed through the cluster', async () => {
    expect(h.prefix).toMatch(/^\{oftest_[a-z0-9]+\}$/);
    const admin = await h.signUp('admin');
    const s = shop(h, admin);
    const product = await s.product(100);
    const user = await h.signUp();
    // Live tracking: pub/sub on the cluster wakes a subscriber for each change of the order.
    const hub = new OrderEventHub(h.redis, h.prefix);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await s.place(user.token, product, 1);
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    const first = ids[0] ?? '';
    // One order waits in `reserved` for its payment; its subscriber is woken by what follows.
    const unpaid = await s.place(user.token, product, 1, null);
    const unpaidId = ((await unpaid.json()) as { id: string }).id;
    await eventually(
      () => statuses(h, [unpaidId]),
      (st) => st[0] === 'reserved',
    );
    let wakeUps = 0;
    const following = hub.follow(unpaidId, (why) => {
      if (why === 'event') wakeUps++;
    });
    // And every order's changes at once (PSUBSCRIBE), as an admin's WebSocket follows them.
    const seen = new Set<string>();
    const stopAll = hub.followAll((change) => seen.add(`${change.orderId}:${change.to}`));
    await following.ready(15_000);
    expect(following.healthy()).toBe(true);
    const pay = await h.json('POST', '/payment', { orderId: unpaidId, token: 'tok_visa' }, user.token);
    expect(pay.status).toBe(202);
    ids.push(unpaidId);
    await eventually(
      () => statuses(h, ids),
      (st) => st.length === ids.length && st.every((x) => x === 'completed'),
      60_000,
    );
    // reserved → paid → completed: at least two published changes reached the subscriber.
    await eventually(
      async () => wakeUps,
      (n) => n >= 2,
    );
    await eventually(
      async () => seen.has(`${unpaidId}:completed`),
      (x) => x,
    );
    following.close();
    stopAll();
    hub.close();
    expect(await s.stock(product)).toEqual({ available: 89, reserved: 0 });

    // Every key of the flow family is on the one node that owns the prefix's slot.
    const nodes = new Set(['reserve', 'charge', 'notify'].map((q) => nodeOf(`${h.prefix}:${q}:meta`)));
    expect(nodes.size).toBe(1);
    expect([...nodes][0]).toBeDefined();

    // Cache: a read after a write shows the write (the invalidation pipeline works on the cluster).
    expect((await s.order(first)).status).toBe('completed');
    const inventory = () => h.json('GET', `/inventory/${product}`, undefined, admin.token);
    expect(((await (await inventory()).json()) as { available: number }).available).toBe(89);
    const put = await h.json('PUT', `/inventory/${product}/update`, { delta: 5 }, admin.token);
    expect(put.status).toBe(200);
    expect(((await (await inventory()).json()) as { available: number }).available).toBe(94);

    // /metrics reads the queues' counts from the cluster (the last notify job is moved to `completed`
    // just after its order is).
    await eventually(
      async () => (await h.json('GET', '/metrics')).text(),
      (text) => /bullmq_jobs\{queue="notify", state="completed"\} 11/.test(text),
    );
    // /system/workers finds the worker in CLIENT LIST on the cluster.
    const listed = await h.json('GET', '/system/workers', undefined, admin.token);
    expect(((await listed.json()) as { workers: { pid: number }[] }).workers.map((w) => w.pid)).toContain(
      process.pid,
    );
    // Bull Board lists the queues with their counts.
    const board = await h.app.request('/admin/queues/api/queues', {
      headers: { authorization: basic(admin.email) },
    });
    expect(board.status).toBe(200);
    const boardQueues = (
      (await board.json()) as { queues: { name: string; counts: { completed: number } }[] }
    ).queues;
    expect(boardQueues.find((q) => q.name === 'notify')?.counts.completed).toBe(11);
  });

  test('rate limits count in the cluster: the sixth wrong login is refused', async () => {
    const user = await h.signUp();
    const login = () => h.json('POST', '/auth/login', { email: user.email, password: 'wrong password!' });
    for (let i = 0; i < 5; i++) expect((await login()).status).toBe(401);
    expect((await login()).status).toBe(429);
  });
});

describe('three flow families (QUEUE_PARTITIONS=3) on the cluster, one master killed under load', () => {
  const K = 3;
  let h: Harness;
  let workers: TestWorkers;
  let prefixes: string[];
  let base: string;

  beforeAll(async () => {
    // Hash tags land on slots by CRC16: pick a prefix whose three families sit on three different
    // masters (docs/scaling.md: in production, place families by moving slots or use many more of them).
    for (let tries = 0; ; tries++) {
      base = `oftest_${uniqueSuffix()}`;
      prefixes = partitionPrefixes(`{${base}}`, K);
      if (new Set(prefixes.map((p) => cluster.ownerOf(p))).size === K) break;
      if (tries > 200) throw new Error('no prefix spreads over the three masters');
    }
    h = await createHarness({
      REDIS_CLUSTER_NODES: cluster.nodes,
      QUEUE_PREFIX: base,
      QUEUE_PARTITIONS: String(K),
      // A killed node's jobs are lost with it (no replica, no persistence): the reconciler re-adds
      // the flows of orders that stopped moving, soon in this test.
      RECONCILE_AFTER_SECONDS: '3',
      RECONCILE_EVERY_MS: '1000',
      JOB_BACKOFF_MS: '200',
      WORKER_LOCK_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
    });
    workers = await startTestWorkers(h, { concurrency: 10 });
  });

  afterAll(async () => {
    await workers?.stop();
    await h?.cleanup();
  });

  const placeMany = async (token: string, product: string, n: number) => {
    const s = shop(h, { token });
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await s.place(token, product, 1);
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    return ids;
  };
  const finalStates = new Set(['completed', 'rejected', 'payment_failed', 'cancelled', 'failed']);

  test('orders spread over the partitions and every master does work', async () => {
    expect(h.deps.queues.families.map((f) => f.prefix)).toEqual(prefixes);
    const admin = await h.signUp('admin');
    const product = await shop(h, admin).product(10_000);
    const user = await h.signUp();
    const evalsBefore = cluster.ports.map((p) => evalCalls(p));
    const ids = await placeMany(user.token, product, 30);
    await eventually(
      () => statuses(h, ids),
      (st) => st.length === ids.length && st.every((x) => x === 'completed'),
      90_000,
    );
    // Every partition got orders, and each partition's queues are on its own master.
    const perPartition = [0, 1, 2].map((p) => ids.filter((id) => h.deps.queues.partitionOf(id) === p).length);
    expect(perPartition.every((n) => n > 0)).toBe(true);
    for (const [p, prefix] of prefixes.entries()) {
      const owner = cluster.ownerOf(prefix);
      expect(cluster.cli(owner, 'exists', `${prefix}:notify:meta`).trim(), `partition ${p}`).toBe('1');
      // The order is completed in MySQL just before BullMQ moves its notify job to `completed`.
      await eventually(
        async () => Number(cluster.cli(owner, 'zcard', `${prefix}:notify:completed`).trim()),
        (n) => n === perPartition[p],
      );
    }
    // Work on every node: each master ran BullMQ's scripts for its family.
    const evalsAfter = cluster.ports.map((p) => evalCalls(p));
    for (const [i, port] of cluster.ports.entries()) {
      expect(evalsAfter[i] ?? 0, `scripts run on ${port}`).toBeGreaterThan((evalsBefore[i] ?? 0) + 50);
    }
    // /metrics, Bull Board and /system/workers see every partition.
    const metrics = await eventually(
      async () => (await h.json('GET', '/metrics')).text(),
      (text) => text.includes('partition="2"'),
    );
    for (const p of [0, 1, 2]) {
      expect(metrics).toContain(
        `bullmq_jobs{queue="notify", state="completed", partition="${p}"} ${perPartition[p]}`,
      );
    }
    const board = await h.app.request('/admin/queues/api/queues', {
      headers: { authorization: basic(admin.email) },
    });
    const names = ((await board.json()) as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['p0.reserve', 'p1.reserve', 'p2.reserve', 'p2.notify']));
    const listed = await h.json('GET', '/system/workers', undefined, admin.token);
    const mine = ((await listed.json()) as { workers: { pid: number; partitions: number[] }[] }).workers.find(
      (w) => w.pid === process.pid,
    );
    expect(mine?.partitions).toEqual([0, 1, 2]);
  });

  test("a killed master stops only its family: the others' orders complete, and all end final once it is back", async () => {
    const admin = await h.signUp('admin');
    const product = await shop(h, admin).product(10_000);
    const user = await h.signUp();
    // The victim: a family whose master holds none of the other keys (cache, limits, pub/sub, the
    // reconciler's schedule in partition 0).
    const baseOwner = cluster.ownerOf(h.prefix);
    const victim = [1, 2].find((p) => cluster.ownerOf(prefixes[p] ?? '') !== baseOwner) ?? 2;
    const victimPort = cluster.ownerOf(prefixes[victim] ?? '');

    // Load in flight when the master dies.
    const before = placeMany(user.token, product, 30);
    await Bun.sleep(300);
    cluster.kill(victimPort);
    const beforeIds = await before;
    const during = await placeMany(user.token, product, 30);
    const survivors = [...beforeIds, ...during].filter((id) => h.deps.queues.partitionOf(id) !== victim);
    const stranded = during.filter((id) => h.deps.queues.partitionOf(id) === victim);
    expect(stranded.length).toBeGreaterThan(0);
    // The other families go on while the victim is down.
    await eventually(
      () => statuses(h, survivors),
      (st) => st.length === survivors.length && st.every((x) => x === 'completed'),
      90_000,
    );
    // The victim's orders placed during the outage wait (none of them could be queued).
    expect((await statuses(h, stranded)).every((x) => x === 'pending')).toBe(true);

    await cluster.restart(victimPort);
    const all = [...beforeIds, ...during];
    const final = await eventually(
      () => statuses(h, all),
      (st) => st.length === all.length && st.every((x) => finalStates.has(x)),
      120_000,
    );
    expect(final.every((x) => x === 'completed')).toBe(true);
    // Stock adds up: one unit per completed order, nothing held.
    const stock = await shop(h, admin).stock(product);
    expect(stock).toEqual({ available: 10_000 - all.length, reserved: 0 });
  });
});

/** How many times a master has run BullMQ's Lua scripts (EVALSHA), from INFO commandstats. */
function evalCalls(port: number): number {
  const stats = cluster.cli(port, 'info', 'commandstats');
  return [...stats.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}
