import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { type AssembledApi, assembleApi } from '../api/start/assemble';
import { createLogger } from '../lib/logger';
import { createHarness, type Harness, testConfig, uniqueSuffix } from './support/harness';

const root = new URL('..', import.meta.url).pathname;
const CLOSED_REDIS = 'redis://127.0.0.1:1';
const CLOSED_MYSQL = 'mysql://root@127.0.0.1:1/x';

// Spawning processes and waiting out a Redis that never answers take longer than bun's 5 s default.
setDefaultTimeout(30_000);

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.cleanup();
});

/** The environment `bun run api/start/server.ts` gets: nothing inherited but PATH and HOME. */
function serverEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'development',
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'startup-secret-startup-secret-startup-01',
    PORT: '0',
    QUEUE_PREFIX: h.prefix,
    ...env,
  };
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the API until it exits (killing it after `limitMs`, which then fails the caller's checks). */
async function runServer(env: Record<string, string>, limitMs = 15_000): Promise<Exit> {
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, 'run', 'api/start/server.ts'], {
    cwd: root,
    env: serverEnv(env),
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), limitMs);
  try {
    const [code, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    return { code, stdout, stderr, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function expectCleanRefusal(exit: Exit): void {
  expect(exit.code).not.toBe(0);
  expect(exit.code).not.toBeNull();
  expect(exit.ms).toBeLessThan(10_000);
  // One clear paragraph, not a stack trace.
  expect(exit.stderr).not.toContain('    at ');
  expect(exit.stderr).not.toContain('error: ');
}

describe('the API refuses to start without its services', () => {
  test('Redis unreachable: exits non-zero, naming the URL and how to get Redis', async () => {
    const exit = await runServer({ REDIS_URL: CLOSED_REDIS, DATABASE_URL: h.config.DATABASE_URL });
    expectCleanRefusal(exit);
    expect(exit.stderr).toContain(CLOSED_REDIS);
    expect(exit.stderr).toContain('Redis');
    expect(exit.stderr).toMatch(/install|docker/i);
    expect(exit.stderr).toContain('REDIS_URL');
    // MySQL answers, so it is not blamed.
    expect(exit.stderr).not.toContain('MySQL is not reachable');
  });

  test('MySQL unreachable: exits non-zero, naming the URL and how to get MySQL', async () => {
    const exit = await runServer({ REDIS_URL: h.config.REDIS_URL, DATABASE_URL: CLOSED_MYSQL });
    expectCleanRefusal(exit);
    expect(exit.stderr).toContain('mysql://root@127.0.0.1:1');
    expect(exit.stderr).toMatch(/MySQL|MariaDB/);
    expect(exit.stderr).toMatch(/install|docker/i);
    expect(exit.stderr).toContain('DATABASE_URL');
  });

  // Regression: the Redis probe once pinged before connecting, so a reachable Redis was blamed.
  test('MySQL unreachable while Redis is up: Redis is not blamed', async () => {
    const exit = await runServer({ REDIS_URL: h.config.REDIS_URL, DATABASE_URL: CLOSED_MYSQL });
    expect(exit.stderr).toContain('MySQL is not reachable');
    expect(exit.stderr).not.toContain('Redis is not reachable');
  });

  test('both unreachable: both are named', async () => {
    const exit = await runServer({ REDIS_URL: CLOSED_REDIS, DATABASE_URL: CLOSED_MYSQL });
    expectCleanRefusal(exit);
    expect(exit.stderr).toContain(CLOSED_REDIS);
    expect(exit.stderr).toContain('mysql://root@127.0.0.1:1');
  });

  test('a password in the URL is not printed', async () => {
    const exit = await runServer({
      REDIS_URL: h.config.REDIS_URL,
      DATABASE_URL: 'mysql://root:s3cr3t-pw@127.0.0.1:1/x',
    });
    expectCleanRefusal(exit);
    expect(exit.stderr).toContain('127.0.0.1:1');
    expect(exit.stderr).not.toContain('s3cr3t-pw');
  });

  test('a bad configuration value: exits non-zero naming the variable', async () => {
    const exit = await runServer({ PORT: 'abc', DATABASE_URL: h.config.DATABASE_URL });
    expectCleanRefusal(exit);
    expect(exit.stderr).toContain('PORT');
  });

  test('with both services up it starts and serves (the control)', async () => {
    const probe = Bun.serve({ port: 0, fetch: () => new Response('') });
    const port = probe.port;
    await probe.stop(true);
    const proc = Bun.spawn([process.execPath, 'run', 'api/start/server.ts'], {
      cwd: root,
      env: serverEnv({
        PORT: String(port),
        REDIS_URL: h.config.REDIS_URL,
        DATABASE_URL: h.config.DATABASE_URL,
      }),
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
    });
    try {
      let status = 0;
      for (let i = 0; i < 150 && status !== 200 && proc.exitCode === null; i++) {
        status = await fetch(`http://127.0.0.1:${port}/health/ready`)
          .then((r) => r.status)
          .catch(() => 0);
        if (status !== 200) await Bun.sleep(100);
      }
      expect(status).toBe(200);
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await proc.exited).toBe(0);
  });
});

describe('readiness', () => {
  let broken: AssembledApi | undefined;

  afterAll(async () => {
    await broken?.close();
  });

  test('GET /health/ready answers 200 when both answer', async () => {
    const res = await h.app.request('/health/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { redis: 'up', mysql: 'up' } });
  });

  test('GET /health/ready answers 503 naming redis when Redis is down', async () => {
    const config = testConfig(uniqueSuffix(), {
      REDIS_URL: CLOSED_REDIS,
      DATABASE_URL: h.config.DATABASE_URL,
    });
    broken = await assembleApi(config, createLogger('silent'));
    const { app } = broken;

    const res = await app.request('/health/ready');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', checks: { redis: 'down', mysql: 'up' } });

    // Liveness does not depend on Redis.
    const live = await app.request('/health/live');
    expect(live.status).toBe(200);
  });
});
