import { configVariables } from './config';

/** The kinds of process `bun run start` supervises. */
export type ChildKind = 'api' | 'worker';

/**
 * What the runtime and the libraries under it read, beyond lib/config.ts: the search path and home,
 * locale and zone, TLS trust, Bun's own (`BUN_JSC_*`: JS_HEAP_GROWTH's options) and OpenTelemetry's
 * standard variables.
 */
const runtime = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'TMPDIR',
  'TZ',
  'LANG',
  'LANGUAGE',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
]);
const runtimePrefixes = ['LC_', 'BUN_', 'OTEL_'];

/**
 * Variables a kind of child must not get, although the configuration knows them. A worker signs no
 * tokens and verifies none: no JWT_SECRET. The admin account is made by the supervisor before any
 * child starts (wiring/startup.ts prepareDatabase): no child needs its password, nor its email.
 */
const withheld: Record<ChildKind, ReadonlySet<string>> = {
  api: new Set(['ADMIN_EMAIL', 'ADMIN_PASSWORD']),
  worker: new Set(['JWT_SECRET', 'ADMIN_EMAIL', 'ADMIN_PASSWORD']),
};

const known = new Set(configVariables);

/**
 * The environment a child of `kind` starts with: an allow-list (the variables lib/config.ts reads and
 * the runtime's own), less what that kind must not hold. Anything else the supervisor was started
 * with (another program's secrets, a shell's leftovers) stays with the supervisor.
 */
export function childEnv(
  kind: ChildKind,
  env: Record<string, string | undefined>,
): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([name]) =>
        !withheld[kind].has(name) &&
        (known.has(name) || runtime.has(name) || runtimePrefixes.some((p) => name.startsWith(p))),
    ),
  );
}
