import { afterEach, describe, expect, spyOn, test } from 'bun:test';
import { ConfigError, loadConfig } from '../lib/config';

const SECRET = 'production-secret-production-secret-0123';
const PII_KEY = Buffer.alloc(32, 7).toString('base64');
const METRICS_TOKEN = 'production-metrics-token-0123456789';

/** The message loadConfig throws for `env` (fails the test when it does not throw a ConfigError). */
function refusal(env: Record<string, string>): string {
  let thrown: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  return (thrown as ConfigError).message;
}

const warnings: string[] = [];
let warnSpy: ReturnType<typeof spyOn> | undefined;

function captureWarnings(): void {
  warnings.length = 0;
  warnSpy = spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    warnings.push(args.map(String).join(' '));
  });
}

afterEach(() => {
  warnSpy?.mockRestore();
  warnSpy = undefined;
});

describe('loadConfig refuses bad values, naming the variable', () => {
  const bad: [string, Record<string, string>, string[]][] = [
    ['PORT=abc', { PORT: 'abc' }, ['PORT']],
    ['PORT out of range', { PORT: '70000' }, ['PORT']],
    ['PORT fractional', { PORT: '3000.5' }, ['PORT']],
    ['REDIS_URL=notaurl', { REDIS_URL: 'notaurl' }, ['REDIS_URL']],
    [
      'DATABASE_URL=postgres://…',
      { DATABASE_URL: 'postgres://app@127.0.0.1:5432/orderflow' },
      ['DATABASE_URL', 'mysql'],
    ],
    ['DATABASE_URL not a URL', { DATABASE_URL: 'orderflow' }, ['DATABASE_URL']],
    ['QUEUE_PREFIX with a colon', { QUEUE_PREFIX: 'order:flow' }, ['QUEUE_PREFIX']],
    ['JWT_SECRET too short', { JWT_SECRET: 'short' }, ['JWT_SECRET']],
    ['NODE_ENV unknown', { NODE_ENV: 'staging' }, ['NODE_ENV']],
    ['RATE_LIMITS=maybe', { RATE_LIMITS: 'maybe' }, ['RATE_LIMITS']],
    ['RESERVATION_TTL_SECONDS=0', { RESERVATION_TTL_SECONDS: '0' }, ['RESERVATION_TTL_SECONDS']],
    ['RECONCILE_AFTER_SECONDS=-1', { RECONCILE_AFTER_SECONDS: '-1' }, ['RECONCILE_AFTER_SECONDS']],
    ['PAYMENT_GATEWAY unknown', { PAYMENT_GATEWAY: 'paypal' }, ['PAYMENT_GATEWAY']],
    [
      'PAYMENT_GATEWAY=stripe without STRIPE_SECRET_KEY',
      { PAYMENT_GATEWAY: 'stripe', STRIPE_WEBHOOK_SECRET: 'whsec_test' },
      ['STRIPE_SECRET_KEY'],
    ],
    [
      'PAYMENT_GATEWAY=stripe without STRIPE_WEBHOOK_SECRET',
      { PAYMENT_GATEWAY: 'stripe', STRIPE_SECRET_KEY: 'sk_test_abc' },
      ['STRIPE_WEBHOOK_SECRET'],
    ],
    ['STRIPE_SECRET_KEY not a secret key', { STRIPE_SECRET_KEY: 'pk_test_abc' }, ['STRIPE_SECRET_KEY']],
    ['STRIPE_API_URL not a URL', { STRIPE_API_URL: 'stripe' }, ['STRIPE_API_URL']],
    ['BODY_LIMIT_BYTES=lots', { BODY_LIMIT_BYTES: 'lots' }, ['BODY_LIMIT_BYTES']],
    ['PII_KEY not 32 bytes', { PII_KEY: 'c2hvcnQ=' }, ['PII_KEY']],
    [
      'ADMIN_EMAIL without ADMIN_PASSWORD',
      { ADMIN_EMAIL: 'root@example.test' },
      ['ADMIN_EMAIL', 'ADMIN_PASSWORD'],
    ],
    ['ADMIN_PASSWORD without ADMIN_EMAIL', { ADMIN_PASSWORD: 'a long enough passphrase' }, ['ADMIN_EMAIL']],
    [
      'ADMIN_EMAIL not an address',
      { ADMIN_EMAIL: 'root', ADMIN_PASSWORD: 'a long enough passphrase' },
      ['ADMIN_EMAIL'],
    ],
  ];

  for (const [name, env, named] of bad) {
    test(name, () => {
      const message = refusal({ NODE_ENV: 'test', ...env });
      for (const word of named) expect(message).toContain(word);
    });
  }

  test('every bad variable is named at once', () => {
    const message = refusal({
      NODE_ENV: 'test',
      PORT: 'abc',
      REDIS_URL: 'notaurl',
      DATABASE_URL: 'postgres://x/y',
    });
    for (const name of ['PORT', 'REDIS_URL', 'DATABASE_URL']) expect(message).toContain(name);
  });

  test('a refused secret is not echoed back', () => {
    const message = refusal({ NODE_ENV: 'test', JWT_SECRET: 'hunter2-is-my-secret' });
    expect(message).toContain('JWT_SECRET');
    expect(message).not.toContain('hunter2-is-my-secret');
  });

  test('NODE_ENV=production without JWT_SECRET throws', () => {
    const message = refusal({ NODE_ENV: 'production', PII_KEY });
    expect(message).toContain('JWT_SECRET');
  });

  test('NODE_ENV=production without PII_KEY throws', () => {
    const message = refusal({ NODE_ENV: 'production', JWT_SECRET: SECRET });
    expect(message).toContain('PII_KEY');
  });

  test('NODE_ENV=production without METRICS_TOKEN throws, naming it and METRICS_PUBLIC', () => {
    const message = refusal({ NODE_ENV: 'production', JWT_SECRET: SECRET, PII_KEY });
    expect(message).toContain('METRICS_TOKEN');
    expect(message).toContain('METRICS_PUBLIC=on');
  });

  test('a worker (role worker) starts in production without JWT_SECRET, which it never uses, and says nothing', () => {
    captureWarnings();
    expect(() => loadConfig({ NODE_ENV: 'production', PII_KEY, METRICS_TOKEN }, 'worker')).not.toThrow();
    expect(warnings).toEqual([]);
  });

  test('NODE_ENV=production with METRICS_PUBLIC=on starts without METRICS_TOKEN (an explicit choice)', () => {
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, PII_KEY, METRICS_PUBLIC: 'on' });
    expect(config.METRICS_TOKEN).toBeUndefined();
  });

  test('NODE_ENV=production with both starts, using them, without a warning', () => {
    captureWarnings();
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, PII_KEY, METRICS_TOKEN });
    expect(config.jwtSecret).toBe(SECRET);
    expect([...config.piiKey]).toEqual([...Buffer.alloc(32, 7)]);
    expect(warnings).toEqual([]);
  });
});

describe('defaults match the contract', () => {
  test('an empty environment gives the documented defaults', () => {
    captureWarnings();
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.DATABASE_URL).toBe('mysql://root@127.0.0.1:3306/orderflow');
    expect(config.QUEUE_PREFIX).toBe('orderflow');
    expect(config.RESERVATION_TTL_SECONDS).toBe(900);
    expect(config.RECONCILE_AFTER_SECONDS).toBe(30);
    expect(config.RATE_LIMITS).toBe(true);
    expect(config.PAYMENT_GATEWAY).toBe('simulated');
    expect(config.RESEND_API_KEY).toBeUndefined();
    expect(config.ADMIN_EMAIL).toBeUndefined();
    expect(config.ADMIN_PASSWORD).toBeUndefined();
    expect(config.BODY_LIMIT_BYTES).toBe(64 * 1024);
    expect(config.NODE_ENV).toBe('development');
    expect(config.piiKey).toHaveLength(32);
  });

  test('without JWT_SECRET outside production: a random secret, with a warning', () => {
    captureWarnings();
    const a = loadConfig({ NODE_ENV: 'development' });
    const b = loadConfig({ NODE_ENV: 'development' });
    expect(a.JWT_SECRET).toBeUndefined();
    expect(a.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(b.jwtSecret).not.toBe(a.jwtSecret);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('JWT_SECRET');
  });

  test('empty strings count as unset', () => {
    const config = loadConfig({ NODE_ENV: 'test', PORT: '', REDIS_URL: '', QUEUE_PREFIX: '' });
    expect(config.PORT).toBe(3000);
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.QUEUE_PREFIX).toBe('orderflow');
  });

  test('set values are parsed and used', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      PORT: '8080',
      REDIS_URL: 'redis://cache.internal:6380/2',
      DATABASE_URL: 'mysql://app:pw@db.internal:3307/shop',
      QUEUE_PREFIX: '{shop}',
      RATE_LIMITS: 'off',
      RESERVATION_TTL_SECONDS: '60',
      RECONCILE_AFTER_SECONDS: '5',
      JWT_SECRET: SECRET,
      ADMIN_EMAIL: 'root@example.test',
      ADMIN_PASSWORD: 'a long enough passphrase',
      RESEND_API_KEY: 're_123',
      BODY_LIMIT_BYTES: '1024',
    });
    expect(config).toMatchObject({
      PORT: 8080,
      REDIS_URL: 'redis://cache.internal:6380/2',
      DATABASE_URL: 'mysql://app:pw@db.internal:3307/shop',
      QUEUE_PREFIX: '{shop}',
      RATE_LIMITS: false,
      RESERVATION_TTL_SECONDS: 60,
      RECONCILE_AFTER_SECONDS: 5,
      jwtSecret: SECRET,
      ADMIN_EMAIL: 'root@example.test',
      RESEND_API_KEY: 're_123',
      BODY_LIMIT_BYTES: 1024,
    });
  });
});
