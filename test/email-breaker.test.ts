import { afterAll, beforeAll, beforeEach, expect, test } from 'bun:test';
import type { Server } from 'bun';
import { RateLimitedError, TransientSendError } from '../domain/notifications/transports';
import { CircuitOpenError, type CircuitStateName } from '../domain/resilience';
import { createLogger } from '../lib/logger';
import { createTransports } from '../wiring/adapters';
import { testConfig, uniqueSuffix } from './support/harness';
import { eventually } from './support/workers';

// The email provider (Resend, a third party) stands in here, speaking its wire format; the app's
// transports are built as production builds them (Resend SDK behind the email breaker).

let server: Server<undefined>;
let requests = 0;
let answer: () => Response = () => Response.json({ id: 'ok' });
let savedBaseUrl: string | undefined;

beforeAll(() => {
  server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      await req.text();
      requests++;
      return answer();
    },
  });
  // The SDK reads RESEND_BASE_URL when a client is built: set it before the transports are made.
  savedBaseUrl = process.env.RESEND_BASE_URL;
  process.env.RESEND_BASE_URL = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server.stop(true);
  if (savedBaseUrl === undefined) delete process.env.RESEND_BASE_URL;
  else process.env.RESEND_BASE_URL = savedBaseUrl;
});
beforeEach(() => {
  requests = 0;
  answer = () => Response.json({ id: 'ok' });
});

const outage = () =>
  Response.json(
    { statusCode: 500, name: 'internal_server_error', message: 'An unexpected error occurred.' },
    {
      status: 500,
    },
  );
const tooFast = () =>
  Response.json(
    { statusCode: 429, name: 'rate_limit_exceeded', message: 'Too many requests' },
    {
      status: 429,
      headers: { 'retry-after': '1' },
    },
  );

/** The production email transport (Resend behind its breaker), with the breaker's states recorded. */
function emailTransport() {
  const config = testConfig(uniqueSuffix(), {
    RESEND_API_KEY: 're_test_123456',
    BREAKER_FAILURE_RATE: '0.5',
    BREAKER_WINDOW_MS: '5000',
    BREAKER_MIN_RPS: '0.001',
    BREAKER_HALF_OPEN_MS: '300',
    BREAKER_RETRIES: '0',
  });
  const states: CircuitStateName[] = [];
  const { email } = createTransports(config, createLogger('silent'), (name, state) => {
    if (name === 'email') states.push(state);
  });
  let n = 0;
  const send = async (): Promise<string> => {
    try {
      await email.send({ to: 'c@example.com', subject: 's', text: 't', idempotencyKey: `ntf_${++n}-email` });
      return 'sent';
    } catch (err) {
      if (err instanceof CircuitOpenError) return 'circuit-open';
      if (err instanceof RateLimitedError) return 'rate-limited';
      if (err instanceof TransientSendError) return 'transient';
      throw err;
    }
  };
  return { send, states };
}

test('an email outage opens the breaker: sends stop reaching the provider until a trial call finds it back', async () => {
  const t = emailTransport();
  answer = outage;
  // Failures reach the provider until the breaker has seen enough of them to open.
  const seen = await eventually(
    async () => [await t.send(), t.states.at(-1)],
    ([, state]) => state === 'open',
    10_000,
    'the breaker to open',
  );
  expect(seen[0]).toBe('circuit-open');
  expect(requests).toBeGreaterThan(0);
  // While open, a send is refused here: the provider hears nothing of it.
  const before = requests;
  expect(await t.send()).toBe('circuit-open');
  expect(requests).toBe(before);

  // The provider is back: after the half-open wait a trial send goes through and closes the breaker.
  answer = () => Response.json({ id: 'back' });
  await eventually(
    () => t.send(),
    (r) => r === 'sent',
    10_000,
    'a send to go through',
  );
  expect(t.states).toContain('half_open');
  expect(t.states.at(-1)).toBe('closed');
});

test('a 429 (the request rate) is no outage: the breaker stays closed and each send reaches the provider', async () => {
  const t = emailTransport();
  answer = tooFast;
  const results: string[] = [];
  for (let i = 0; i < 10; i++) results.push(await t.send());
  // Each one was an answer from the provider (rate limited), none refused by an open circuit.
  expect(results).toEqual(Array.from({ length: 10 }, () => 'rate-limited'));
  expect(requests).toBe(10);
  expect(t.states).not.toContain('open');

  answer = () => Response.json({ id: 'ok' });
  expect(await t.send()).toBe('sent');
  expect(requests).toBe(11);
});
