import { afterAll, describe, expect, test } from 'bun:test';
import { startOtlpReceiver } from './support/otlp-receiver';
import { repoRoot } from './support/processes';

/** Runs `code` in a fresh `bun -e` process from the repository root with exactly `env` (plus PATH, HOME). */
async function bunEval(code: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, '-e', code], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      ...env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, exitCode };
}

const receiver = startOtlpReceiver();
afterAll(() => receiver.stop());

describe('tracing off', () => {
  test('no OpenTelemetry SDK, exporter or instrumentation is loaded by the API or a worker', async () => {
    const run = await bunEval(
      `await import('./api/start/server.ts'); await import('./workers/main.ts');
       const { loadConfig } = await import('./lib/config');
       const { startTracing } = await import('./wiring/tracing');
       const on = await startTracing(loadConfig(), 'off');
       console.log(JSON.stringify({ on, files: Object.keys(require.cache) }));`,
    );
    expect(run.stderr).toBe('');
    const { on, files } = JSON.parse(run.stdout) as { on: boolean; files: string[] };
    expect(on).toBe(false);
    const loaded = (pkg: string) => files.some((f) => f.includes(`/node_modules/${pkg}/`));
    for (const pkg of [
      '@opentelemetry/sdk-trace',
      '@opentelemetry/exporter-trace-otlp-http',
      '@opentelemetry/exporter-trace-otlp-proto',
      '@opentelemetry/context-async-hooks',
      'bullmq-otel',
      '@hono/otel',
    ])
      expect(loaded(pkg), pkg).toBe(false);
    // The app's files were loaded (the check is not vacuous).
    expect(files.some((f) => f.endsWith('/api/app.ts'))).toBe(true);
  }, 30_000);
});

describe('tracing on', () => {
  test('the span queue is bounded: spans made faster than they can be sent are dropped, not kept', async () => {
    const made = 5000;
    const run = await bunEval(
      `const { loadConfig } = await import('./lib/config');
       const { startTracing, stopTracing } = await import('./wiring/tracing');
       const { inSpan } = await import('./lib/tracing');
       await startTracing(loadConfig(), 'bounded');
       // Only microtasks in this loop: no export can finish before every span has ended.
       for (let i = 0; i < ${made}; i++) await inSpan('s', { i, pad: 'x'.repeat(200) }, async () => i);
       await stopTracing();
       console.log('done');`,
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_MAX_QUEUE_SIZE: '100',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100',
      },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('done');
    const received = receiver.spans.filter((s) => s.resource['service.name'] === 'bounded');
    // Some were sent (the exporter works), at most the queue and one batch in flight: the rest dropped.
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThanOrEqual(200);
    // Each process names itself.
    expect(String(received[0]?.resource['service.instance.id'])).toMatch(/:\d+$/);
  }, 30_000);

  test('AsyncLocalStorage context works under Bun: a span started after an await has its parent', async () => {
    const run = await bunEval(
      `const { loadConfig } = await import('./lib/config');
       const { startTracing, stopTracing } = await import('./wiring/tracing');
       const { inSpan } = await import('./lib/tracing');
       await startTracing(loadConfig(), 'context');
       await inSpan('outer', {}, async () => {
         await Bun.sleep(5);
         await new Promise((r) => setTimeout(r, 5));
         await inSpan('inner', {}, async () => {});
       });
       await stopTracing();`,
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    );
    expect(run.stderr).toBe('');
    const spans = receiver.spans.filter((s) => s.resource['service.name'] === 'context');
    const outer = spans.find((s) => s.name === 'outer');
    const inner = spans.find((s) => s.name === 'inner');
    expect(inner?.parentSpanId).toBe(outer?.spanId as string);
    expect(inner?.traceId).toBe(outer?.traceId as string);
  }, 30_000);
});
