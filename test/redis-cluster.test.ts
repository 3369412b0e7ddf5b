import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { OrderEventHub } from '../api/live';
import { createHarness, type Harness } from './support/harness';
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

async function statuses(h: Harness, ids: string[]): Promise<string[]> {
  const [rows] = await h.pool.query('SELECT status FROM orders WHERE id IN (?)', [ids]);
  return (rows as { status: string }[]).map((r) => r.status);
}

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
    const unsubscribe = await hub.subscribe(unpaidId, () => wakeUps++);
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
    await unsubscribe();
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

    // /metrics reads the queues' counts from the cluster.
    const metrics = await (await h.json('GET', '/metrics')).text();
    expect(metrics).toMatch(/bullmq_jobs\{queue="notify", state="completed"\} 11/);
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
