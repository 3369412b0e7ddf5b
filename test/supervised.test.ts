import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { createHarness, type Harness } from './support/harness';
import { alive, freeTcpPort, type Spawned, spawnBun } from './support/processes';
import { shop } from './support/shop';
import { eventually } from './support/workers';

// `bun run start` as an operator runs it, seen from outside: what each child process was given
// (its /proc/<pid>/environ), and what one scrape of /metrics covers.
setDefaultTimeout(180_000);

const METRICS_TOKEN = 'supervised-metrics-token-0123456789';
const ADMIN_PASSWORD = 'bootstrap passphrase 0123';
const CANARY = 'not-for-any-child-0123456789';
let h: Harness;
let port: number;
let run: Spawned;
let adminEmail: string;

const base = () => `http://127.0.0.1:${port}`;

beforeAll(async () => {
  h = await createHarness();
  adminEmail = `root_${h.prefix}@example.test`;
  port = freeTcpPort();
  run = spawnBun(['run', 'start'], {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PORT: String(port),
    DATABASE_URL: h.config.DATABASE_URL,
    REDIS_URL: h.config.REDIS_URL,
    QUEUE_PREFIX: h.prefix,
    JWT_SECRET: h.config.JWT_SECRET ?? '',
    ADMIN_EMAIL: adminEmail,
    ADMIN_PASSWORD,
    METRICS_TOKEN,
    RATE_LIMITS: 'off',
    API_PROCESSES: '2',
    WORKER_PROCESSES: '1',
    SHUTDOWN_GRACE_MS: '3000',
    // Not a variable Orderflow reads: no child has any reason to get it.
    SOME_OTHER_SECRET: CANARY,
  });
  await eventually(
    () =>
      fetch(`${base()}/health/ready`).then(
        (r) => r.status,
        () => 0,
      ),
    (s) => s === 200,
    90_000,
  );
});

afterAll(async () => {
  // `bun run start` runs the supervisor as a process of its own (killing `bun run` leaves it, and it
  // restarts its children): SIGTERM it, which stops every child, then kill whatever is left.
  const supervisor = run?.lines.find((l) => l.process === 'supervisor' && typeof l.pid === 'number')?.pid;
  if (supervisor !== undefined && alive(supervisor)) {
    process.kill(supervisor, 'SIGTERM');
    for (const deadline = Date.now() + 20_000; alive(supervisor) && Date.now() < deadline; )
      await Bun.sleep(100);
    if (alive(supervisor)) process.kill(supervisor, 'SIGKILL');
  }
  const pids = run?.lines.flatMap((l) => (typeof l.childPid === 'number' ? [l.childPid] : [])) ?? [];
  run?.proc.kill('SIGKILL');
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await h?.cleanup();
});

/** The pid the supervisor last started `name` with (from its `started <name>` log line). */
function pidOf(name: string): number {
  const pid = run.lines.filter((l) => l.child === name && l.msg === `started ${name}`).at(-1)?.childPid;
  if (pid === undefined) throw new Error(`no ${name} started:\n${run.text.join('\n')}`);
  return pid;
}

/** A process's environment as the kernel keeps it (what it was started with). */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describe('each child gets the variables its kind needs', () => {
  test('a worker: no JWT_SECRET, no ADMIN_EMAIL or ADMIN_PASSWORD; an API process: no admin bootstrap', async () => {
    expect(readdirSync('/proc').length).toBeGreaterThan(0);
    const worker = environOf(pidOf('worker-1'));
    expect(worker.DATABASE_URL).toBe(h.config.DATABASE_URL);
    expect(worker.REDIS_URL).toBe(h.config.REDIS_URL);
    expect(worker.METRICS_TOKEN).toBe(METRICS_TOKEN);
    for (const name of ['JWT_SECRET', 'ADMIN_EMAIL', 'ADMIN_PASSWORD', 'SOME_OTHER_SECRET']) {
      expect(Object.keys(worker)).not.toContain(name);
    }
    for (const api of ['api-1', 'api-2']) {
      const env = environOf(pidOf(api));
      expect(env.JWT_SECRET).toBe(h.config.JWT_SECRET as string);
      expect(env.DATABASE_URL).toBe(h.config.DATABASE_URL);
      for (const name of ['ADMIN_EMAIL', 'ADMIN_PASSWORD', 'SOME_OTHER_SECRET']) {
        expect(Object.keys(env)).not.toContain(name);
      }
    }
    // The admin was made before the children started: it signs in.
    const login = await fetch(`${base()}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: adminEmail, password: ADMIN_PASSWORD }),
    });
    expect(login.status).toBe(200);
  });
});

describe('one scrape covers every process the supervisor runs', () => {
  test("a worker's screening decision and job durations are in the API's /metrics", async () => {
    const admin = await h.signUp('admin');
    const user = await h.signUp();
    const s = shop(h, admin);
    const p = await s.product(10);
    const res = await fetch(`${base()}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
      body: JSON.stringify({
        items: [{ productId: p, quantity: 1 }],
        payment: { token: 'tok_riskLevelElevated' },
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    // The worker screened it (the API never does): the order waits in review.
    await eventually(
      async () => (await s.order(id)).status,
      (st) => st === 'review',
      60_000,
    );
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    // Each try is one scrape, answered by whichever API process the kernel picks.
    let text = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await Bun.sleep(250)) {
      const r = await fetch(`${base()}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      text = r.status === 200 ? await r.text() : '';
      if ((value(text, 'fraud_decisions_total{decision="review"}') ?? 0) >= 1) break;
    }
    expect(value(text, 'fraud_decisions_total{decision="review"}')).toBe(1);
    // The reserve step ran in the worker: its duration has a sample.
    const reserved = text
      .split('\n')
      .filter((l) => l.startsWith('job_processing_seconds_count{') && l.includes('queue="reserve"'));
    expect(reserved.reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)).toBeGreaterThanOrEqual(1);
    // Each process's own gauges carry its name; counters are summed into one series.
    expect(text).toMatch(/process="worker-1"/);
    expect(text).toMatch(/process="api-[12]"/);
    expect(text.split('\n').filter((l) => l.startsWith('# TYPE fraud_decisions_total ')).length).toBe(1);
  });
});
