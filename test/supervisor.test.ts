import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  setDefaultTimeout,
  test,
} from 'bun:test';
import { createLogger } from '../lib/logger';
import { Supervisor } from '../lib/supervisor';
import { createHarness, deleteKeys, type Harness } from './support/harness';
import { statuses } from './support/orders';
import { alive, freeTcpPort, type LogLine, type Spawned, spawnBun } from './support/processes';
import { shop } from './support/shop';
import { eventually } from './support/workers';

// Real processes on a shared 2-core machine: start-up, a lock period and restarts take seconds.
setDefaultTimeout(180_000);

const GRACE_MS = 3000;
let h: Harness;
let admin: { token: string };
let port: number;
let run: Spawned;
let productId: string;

const base = () => `http://127.0.0.1:${port}`;

/** Waits until the API on `onPort` answers ready (its processes start in their own time). */
const untilReady = (onPort: number) =>
  eventually(
    () =>
      fetch(`http://127.0.0.1:${onPort}/health/ready`).then(
        (r) => r.status,
        () => 0,
      ),
    (s) => s === 200,
    90_000,
  );
// Each run its own queue prefix: a SIGKILLed run's workers stay listed in Redis for a while.
let runPrefix = '';
const runPrefixes: string[] = [];

/** `WORKER_PROCESSES=2 API_PROCESSES=2 bun run start` on its own database, prefix and port. */
function startSupervisor(): Spawned {
  return spawnBun(['run', 'start'], {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: String(port),
    DATABASE_URL: h.config.DATABASE_URL,
    REDIS_URL: h.config.REDIS_URL,
    QUEUE_PREFIX: runPrefix,
    JWT_SECRET: h.config.JWT_SECRET ?? '',
    RATE_LIMITS: 'off',
    // Many orders from one user in seconds: screening would hold them for review (as the harness, off).
    RISK_REVIEW_AT: '2',
    RISK_REJECT_AT: '2',
    API_PROCESSES: '2',
    WORKER_PROCESSES: '2',
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
    // A SIGKILLed worker's jobs come back after one short lock period.
    WORKER_LOCK_MS: '2000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    RECONCILE_AFTER_SECONDS: '3',
    RECONCILE_EVERY_MS: '1000',
  });
}

async function placeOrders(n: number): Promise<string[]> {
  const user = await h.signUp();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    // A new connection each time, so the kernel spreads them over both API processes.
    const res = await fetch(`${base()}/orders`, {
      method: 'POST',
      keepalive: false,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${user.token}`,
        connection: 'close',
      },
      body: JSON.stringify({ items: [{ productId, quantity: 1 }], payment: { token: 'tok_visa' } }),
    });
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

const allCompleted = (ids: string[]) =>
  eventually(
    () => statuses(h, ids),
    (s) => s.length === ids.length && s.every((x) => x === 'completed'),
    90_000,
  );

/** The pid the supervisor last started `name` with (from its `started <name>` log line). */
function pidOf(name: string): number | undefined {
  const started = run.lines.filter((l) => l.child === name && l.msg === `started ${name}`);
  return started.at(-1)?.childPid;
}

async function liveWorkers(): Promise<{ process?: string; pid: number }[]> {
  const res = await fetch(`${base()}/system/workers`, {
    headers: { authorization: `Bearer ${admin.token}` },
  });
  if (res.status !== 200) return [];
  return ((await res.json()) as { workers: { process?: string; pid: number }[] }).workers;
}

beforeAll(async () => {
  h = await createHarness();
  admin = await h.signUp('admin');
  productId = await shop(h, admin).product(1000);
});

/** Every process a supervisor run started (itself and each child it logged). */
const pidsOf = (r: Spawned | undefined) => [
  ...(r?.proc.pid ? [r.proc.pid] : []),
  ...(r?.lines.flatMap((l) => (typeof l.childPid === 'number' ? [l.childPid] : [])) ?? []),
];

afterAll(async () => {
  // Whatever happened, no process of this test outlives it.
  for (const pid of pidsOf(run)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const prefix of runPrefixes) await deleteKeys(h.redis, prefix);
  await h?.cleanup();
});

describe('bun run start supervises API and worker processes', () => {
  // Each test gets a supervisor of its own, started fresh on a new port, and ends it: no test relies
  // on what an earlier one did to its processes (killed, restarted, stopped).
  beforeEach(async () => {
    port = freeTcpPort();
    runPrefix = `${h.prefix}r${runPrefixes.length + 1}`;
    runPrefixes.push(runPrefix);
    run = startSupervisor();
    await untilReady(port);
  });
  afterEach(async () => {
    const pids = pidsOf(run);
    run.proc.kill('SIGKILL');
    await run.proc.exited;
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await eventually(
      () => pids.filter(alive),
      (left) => left.length === 0,
      10_000,
      'every process of the run gone',
    );
  });

  test('two API processes share the port and two worker processes complete the orders', async () => {
    const workers = await eventually(liveWorkers, (w) => w.length === 2, 60_000);
    expect(workers.map((w) => w.process).sort()).toEqual(['worker-1', 'worker-2']);
    const started = [pidOf('worker-1'), pidOf('worker-2')].map((pid) => pid ?? 0);
    expect(workers.map((w) => w.pid).sort()).toEqual(started.sort());

    const ids = await placeOrders(30);
    await allCompleted(ids);
    // Each log line names its process: both API processes answered requests (30 connections).
    const answeredBy = new Set(run.lines.filter((l) => l.msg === 'request').map((l) => l.process));
    expect([...answeredBy].sort()).toEqual(['api-1', 'api-2']);
  });

  test('a SIGKILLed worker and a SIGKILLed API process are restarted, and orders still complete', async () => {
    const workerPid = pidOf('worker-1');
    const apiPid = pidOf('api-2');
    if (!workerPid || !apiPid) throw new Error('no pids in the supervisor log');
    // Some orders in flight when the worker dies: its jobs come back after the lock period.
    const before = await placeOrders(10);
    process.kill(workerPid, 'SIGKILL');
    process.kill(apiPid, 'SIGKILL');
    await eventually(
      async () => [pidOf('worker-1'), pidOf('api-2')],
      ([w, a]) => w !== undefined && w !== workerPid && a !== undefined && a !== apiPid,
      60_000,
    );
    expect(run.lines.some((l) => l.child === 'worker-1' && l.msg === 'worker-1 exited; restarting')).toBe(
      true,
    );
    // The new worker-1 registers itself, the dead one is gone from the list.
    await eventually(
      liveWorkers,
      (w) => w.length === 2 && w.some((x) => x.process === 'worker-1' && x.pid === pidOf('worker-1')),
      60_000,
    );
    const after = await placeOrders(10);
    await allCompleted([...before, ...after]);
  });

  test('SIGTERM stops every child within the shutdown deadline', async () => {
    const children = ['api-1', 'api-2', 'worker-1', 'worker-2'].map((n) => pidOf(n) ?? 0);
    expect(children.every((pid) => pid > 0 && alive(pid))).toBe(true);
    // Every child up, the restarted ones of the test before included: a child still starting has no
    // shutdown handler yet, and would die of the SIGTERM without draining (and without saying so).
    const up = (name: string, msg: RegExp) =>
      run.lines.some((l) => l.process === name && l.pid === pidOf(name) && msg.test(String(l.msg)));
    await eventually(
      async () =>
        ['api-1', 'api-2'].every((n) => up(n, /^API listening/)) &&
        ['worker-1', 'worker-2'].every((n) => up(n, /^workers started$/)),
      (ready) => ready,
      60_000,
    );
    // Work in flight while it stops: the workers drain it or hand it back.
    await placeOrders(5);
    run.proc.kill('SIGTERM');
    const code = await run.proc.exited;
    expect(code).toBe(0);
    // Within the deadline: every child left on its own; the supervisor, which SIGKILLs the children
    // still there after their grace plus its margin (and says so), had none to kill.
    expect(run.lines.filter((l) => l.msg === 'children past the shutdown deadline: killed')).toEqual([]);
    expect(children.filter(alive)).toEqual([]);
    expect(run.lines.some((l) => l.process === 'supervisor' && l.msg === 'all children stopped')).toBe(true);
    for (const name of ['worker-1', 'worker-2']) {
      expect(run.lines.some((l) => l.process === name && l.msg === 'workers stopped')).toBe(true);
    }
  });
});

/** Every one of these processes exits on its own, and nothing answers on the port any more. */
async function expectAllGone(pids: number[], port: number): Promise<void> {
  await eventually(
    async () => pids.filter(alive),
    (left) => left.length === 0,
    30_000,
  );
  expect(
    await fetch(`http://127.0.0.1:${port}/health/live`).then(
      (r) => r.status,
      () => 'refused',
    ),
  ).toBe('refused');
}

describe('the supervisor on its own', () => {
  test('a child that keeps crashing is restarted with a doubling backoff, capped', async () => {
    const maxBackoffMs = 400;
    const lines: LogLine[] = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) };
    const logger = createLogger('info', { process: 'supervisor' }, sink);
    const supervisor = new Supervisor(
      [
        {
          name: 'crasher',
          cmd: [process.execPath, '-e', 'process.exit(3)'],
          env: { PATH: process.env.PATH },
        },
      ],
      logger,
      { graceMs: 1000, backoffMs: 100, maxBackoffMs, healthyAfterMs: 60_000 },
    );
    supervisor.start();
    const exits = () => lines.filter((l) => l.msg === 'crasher exited; restarting');
    await eventually(
      async () => exits().length,
      (n) => n >= 5,
      30_000,
    );
    await supervisor.stop();
    const delays = exits().map((l) => l.restartInMs);
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 400, 400]);
    expect(exits().every((l) => l.code === 3)).toBe(true);
    // Stopped: no more starts after stop() returned. A restart is only ever a timer of at most
    // maxBackoffMs set before stop(); a timer set now for that long fires after every such one, so
    // once it has fired, nothing is left that could start the child again.
    const started = lines.filter((l) => l.msg === 'started crasher').length;
    expect(supervisor.state().every((c) => c.pid === undefined || !alive(c.pid))).toBe(true);
    await new Promise<void>((resolve) => setTimeout(resolve, maxBackoffMs));
    expect(lines.filter((l) => l.msg === 'started crasher').length).toBe(started);
  });

  test('without JWT_SECRET, a token signed by one API process is accepted by the others', async () => {
    const h2 = await createHarness();
    const port2 = freeTcpPort();
    const url = (path: string) => `http://127.0.0.1:${port2}${path}`;
    // As a newcomer runs it: development mode, no JWT_SECRET, two API processes on one port.
    const sup = spawnBun(['run', 'scripts/start.ts'], {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      PORT: String(port2),
      DATABASE_URL: h2.config.DATABASE_URL,
      REDIS_URL: h2.config.REDIS_URL,
      QUEUE_PREFIX: h2.prefix,
      RATE_LIMITS: 'off',
      API_PROCESSES: '2',
      WORKER_PROCESSES: '0',
      SHUTDOWN_GRACE_MS: '2000',
    });
    try {
      await untilReady(port2);
      const post = (path: string, body: unknown) =>
        fetch(url(path), {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close' },
          body: JSON.stringify(body),
        });
      const email = `multi-${Date.now()}@example.com`;
      const registered = await post('/auth/register', {
        email,
        password: 'correct horse battery',
        name: 'M',
      });
      expect(registered.status).toBe(201);
      const { id } = (await registered.json()) as { id: string };
      const login = await post('/auth/login', { email, password: 'correct horse battery' });
      const { accessToken } = (await login.json()) as { accessToken: string };
      // A new connection each time, so the kernel spreads them over both API processes.
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(url(`/auth/user/${id}`), {
            keepalive: false,
            headers: { authorization: `Bearer ${accessToken}`, connection: 'close' },
          }).then((r) => r.status),
        ),
      );
      expect(answers).toEqual(Array.from({ length: 20 }, () => 200));
    } finally {
      sup.proc.kill('SIGTERM');
      await sup.proc.exited;
      for (const pid of sup.lines.flatMap((l) => (typeof l.childPid === 'number' ? [l.childPid] : []))) {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      await h2.cleanup();
    }
  });

  /** A stack of one API and one worker on `h2`'s database and prefix, serving on `port2`. */
  const oneOfEach = (h2: Harness, port2: number) => ({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: String(port2),
    DATABASE_URL: h2.config.DATABASE_URL,
    REDIS_URL: h2.config.REDIS_URL,
    QUEUE_PREFIX: h2.prefix,
    JWT_SECRET: h2.config.JWT_SECRET ?? '',
    API_PROCESSES: '1',
    WORKER_PROCESSES: '1',
    SHUTDOWN_GRACE_MS: '2000',
  });

  test('the supervisor stops with its children when the `bun run start` that ran it is SIGKILLed', async () => {
    const h2 = await createHarness();
    const port2 = freeTcpPort();
    const outer = spawnBun(['run', 'start'], oneOfEach(h2, port2));
    const pids = () => [
      ...outer.lines.flatMap((l) => (l.role === 'supervisor' && typeof l.pid === 'number' ? [l.pid] : [])),
      ...outer.lines.flatMap((l) => (typeof l.childPid === 'number' ? [l.childPid] : [])),
    ];
    try {
      await untilReady(port2);
      const supervisor = outer.lines.find((l) => l.role === 'supervisor' && typeof l.pid === 'number')?.pid;
      // The runner is a process of its own: the supervisor is its child, not the same process.
      expect(typeof supervisor).toBe('number');
      expect(supervisor).not.toBe(outer.proc.pid);
      const all = [...new Set(pids())];
      expect(all.length).toBe(3);
      outer.proc.kill('SIGKILL');
      await expectAllGone(all, port2);
    } finally {
      outer.proc.kill('SIGKILL');
      for (const pid of pids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await h2.cleanup();
    }
  });

  // Killed once the API answers, and killed while the children are still starting (before they
  // reach the code that watches their parent): neither leaves an orphan holding the port.
  for (const moment of ['ready', 'starting'] as const) {
    test(`children stop themselves when the supervisor is SIGKILLed (${moment}; no orphan keeps the port)`, async () => {
      const h2 = await createHarness();
      const port2 = freeTcpPort();
      const sup = spawnBun(['run', 'scripts/start.ts'], oneOfEach(h2, port2));
      try {
        if (moment === 'ready') {
          await untilReady(port2);
        } else {
          await eventually(
            async () => sup.lines.filter((l) => typeof l.childPid === 'number').length,
            (n) => n === 2,
            90_000,
          );
        }
        const children = sup.lines.flatMap((l) => (typeof l.childPid === 'number' ? [l.childPid] : []));
        expect(children.length).toBe(2);
        sup.proc.kill('SIGKILL');
        await expectAllGone(children, port2);
      } finally {
        sup.proc.kill('SIGKILL');
        for (const pid of sup.lines.flatMap((l) => (typeof l.childPid === 'number' ? [l.childPid] : []))) {
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        }
        await h2.cleanup();
      }
    });
  }
});
