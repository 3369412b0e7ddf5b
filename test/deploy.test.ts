import { afterAll, describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Queue } from 'bullmq';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';
import { configVariables, loadConfig } from '../lib/config';
import { createRedis, deletePrefixedKeys } from '../lib/redis';
import { queueNames } from '../queues/contract';
import { partitionHas, partitionPrefixes, waitListKey } from '../queues/partitions';
import { parseWorkerArgs } from '../workers/main';
import { uniqueSuffix } from './support/harness';
import { repoRoot } from './support/processes';

/** Static checks of deploy/: every manifest validates and names only real commands and settings. */

const k8sDir = join(repoRoot, 'deploy/k8s');
const packageJson = (await Bun.file(join(repoRoot, 'package.json')).json()) as {
  scripts: Record<string, string>;
};

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML, narrowed by each check below
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const k8sFiles = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml'));
const manifests: Manifest[] = [];
for (const file of k8sFiles.filter((f) => f !== 'kustomization.yaml')) {
  const text = await Bun.file(join(k8sDir, file)).text();
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Omit<Manifest, 'file'> | null;
    if (value) manifests.push({ file, ...value });
  }
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const configMap = byKind('ConfigMap')[0];
const secret = byKind('Secret')[0];

/** Variables a YAML file names in comments, written as `# NAME: "value"` (the commented-out defaults). */
async function commentedVariables(file: string): Promise<string[]> {
  const text = await Bun.file(join(k8sDir, file)).text();
  return [...text.matchAll(/^\s*#\s*([A-Z][A-Z0-9_]+):\s/gm)].map((m) => m[1] ?? '');
}

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string }[];
}

function containersOf(m: Manifest): Container[] {
  return (m.spec?.template?.spec?.containers ?? []) as Container[];
}

/**
 * A command is `bun run <script>` for a package.json script, or `bun run <file>` for the file a script
 * runs; worker arguments must parse as `bun run worker` parses them.
 */
function checkCommand(where: string, command: string[]): void {
  expect(command.slice(0, 2), where).toEqual(['bun', 'run']);
  const target = command[2] ?? '';
  const scripts = packageJson.scripts;
  const script = Object.entries(scripts).find(
    ([name, line]) => name === target || line === `bun run ${target}`,
  );
  expect(script, `${where}: "${target}" is no package.json script`).toBeDefined();
  const file = script?.[1].replace(/^bun run /, '') ?? '';
  expect(Bun.file(join(repoRoot, file)).size, `${where}: ${file} exists`).toBeGreaterThan(0);
  const rest = command.slice(3).filter((a) => a !== '--');
  if (file === 'workers/main.ts') expect(() => parseWorkerArgs(rest, 20), where).not.toThrow();
  else expect(rest, `${where}: no arguments`).toEqual([]);
}

describe('deploy/k8s', () => {
  test('every manifest validates against the Kubernetes or KEDA schema of its kind', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(9);
    for (const m of manifests) {
      const Model = models[`${m.apiVersion}/${m.kind}`];
      expect(Model, `${m.file}: no schema for ${m.apiVersion} ${m.kind}`).toBeDefined();
      const { file: _file, ...body } = m;
      if (Model)
        expect(() => new Model(body as never).validate(), `${m.file} ${m.metadata.name}`).not.toThrow();
    }
  });

  test('a manifest that breaks its schema is refused (the validation can fail)', () => {
    const deployment = byKind('Deployment')[0];
    if (!deployment) throw new Error('no Deployment');
    const broken = structuredClone({ ...deployment, file: undefined });
    broken.spec.template.spec.containers[0].ports = [{ containerPort: 'http' }];
    expect(() => new Deployment(broken as never).validate()).toThrow();
    const scaled = structuredClone({ ...byKind('ScaledObject')[0], file: undefined });
    scaled.spec.triggers = 'redis';
    expect(() => new ScaledObject(scaled as never).validate()).toThrow();
  });

  test('the kustomization names every manifest but the Secret template, and builds', async () => {
    const kustomization = parse(await Bun.file(join(k8sDir, 'kustomization.yaml')).text()) as {
      resources: string[];
    };
    const expected = k8sFiles.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.template.yaml');
    expect([...kustomization.resources].sort()).toEqual(expected.sort());
    const kinds = kustomization.resources.flatMap((r) =>
      manifests.filter((m) => m.file === r).map((m) => m.kind),
    );
    // The same documents kubectl applies: built by kubectl itself (a missing kubectl fails, never skips).
    const kubectl = Bun.which('kubectl');
    if (!kubectl)
      throw new Error('kubectl is missing: run .ci/system-deps (installs Debian package kubernetes-client)');
    const built = Bun.spawnSync([kubectl, 'kustomize', k8sDir]);
    expect(built.exitCode, built.stderr.toString()).toBe(0);
    const builtKinds = parseAllDocuments(built.stdout.toString()).map((d) => (d.toJS() as Manifest).kind);
    expect(builtKinds.sort()).toEqual([...kinds].sort());
    expect(kinds.sort()).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'Deployment',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Job',
        'ScaledObject',
        'ScaledObject',
        'Service',
      ].sort(),
    );
  });

  test('every command names a package.json script (or its file) with arguments it accepts', () => {
    const withContainers = manifests.filter((m) => containersOf(m).length > 0);
    expect(withContainers.map((m) => m.kind).sort()).toEqual([
      'Deployment',
      'Deployment',
      'Deployment',
      'Job',
    ]);
    for (const m of withContainers) {
      for (const c of containersOf(m)) {
        expect(c.command, `${m.metadata.name}/${c.name} has a command`).toBeDefined();
        checkCommand(`${m.file} ${m.metadata.name}/${c.name}`, [...(c.command ?? []), ...(c.args ?? [])]);
      }
    }
  });

  test('every variable the manifests set or mention is one lib/config.ts reads', async () => {
    if (!configMap || !secret) throw new Error('no ConfigMap or Secret');
    const named = new Set<string>([
      ...Object.keys(configMap.data ?? {}),
      ...Object.keys(secret.stringData ?? {}),
      ...(await commentedVariables('configmap.yaml')),
      ...(await commentedVariables('secret.template.yaml')),
      ...manifests.flatMap((m) => containersOf(m).flatMap((c) => (c.env ?? []).map((e) => e.name))),
      ...byKind('ScaledObject').flatMap((s) =>
        (s.spec.triggers as { metadata: { addressesFromEnv?: string } }[]).flatMap((t) =>
          t.metadata.addressesFromEnv ? [t.metadata.addressesFromEnv] : [],
        ),
      ),
    ]);
    expect(named.size).toBeGreaterThan(30);
    expect([...named].filter((v) => !configVariables.includes(v))).toEqual([]);
    // The Secret holds the four secrets the issue names; the ConfigMap none of them.
    for (const key of ['JWT_SECRET', 'PII_KEY', 'DATABASE_URL', 'RESEND_API_KEY', 'METRICS_TOKEN']) {
      expect(Object.keys(secret.stringData ?? {})).toContain(key);
      expect(Object.keys(configMap.data ?? {})).not.toContain(key);
    }
    // And the ConfigMap parses as the processes will parse it (with the secrets filled in).
    expect(() =>
      loadConfig({
        ...configMap.data,
        JWT_SECRET: 'x'.repeat(40),
        PII_KEY: Buffer.alloc(32).toString('base64'),
        METRICS_TOKEN: 'm'.repeat(32),
      }),
    ).not.toThrow();
  });

  test('worker pods get only the secrets a worker uses (no JWT_SECRET, no admin password)', () => {
    const workers = byKind('Deployment').filter((d) => d.file === 'worker.yaml');
    expect(workers.length).toBeGreaterThan(0);
    for (const d of workers) {
      for (const c of containersOf(d)) {
        const from = (c as { envFrom?: { secretRef?: unknown }[] }).envFrom ?? [];
        expect(
          from.some((f) => f.secretRef),
          `${d.file}: a whole Secret as envFrom`,
        ).toBe(false);
        const names = (c.env ?? []).map((e) => e.name);
        for (const banned of ['JWT_SECRET', 'ADMIN_EMAIL', 'ADMIN_PASSWORD'])
          expect(names).not.toContain(banned);
        expect(names).toContain('DATABASE_URL');
        expect(names).toContain('PII_KEY');
      }
    }
  });

  test('each worker group scales on exactly the wait lists of its queues in every partition', () => {
    if (!configMap) throw new Error('no ConfigMap');
    const config = loadConfig({
      ...configMap.data,
      JWT_SECRET: 'x'.repeat(40),
      PII_KEY: Buffer.alloc(32).toString('base64'),
      METRICS_TOKEN: 'm'.repeat(32),
    });
    expect(config.QUEUE_PARTITIONS).toBeGreaterThan(1);
    const prefixes = partitionPrefixes(config.QUEUE_PREFIX, config.QUEUE_PARTITIONS);
    const scaled = byKind('ScaledObject');
    const groups = byKind('Deployment').filter((d) => d.metadata.name.startsWith('orderflow-worker'));
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(
      groups.map((g) => g.metadata.name).sort(),
    );
    const covered = new Set<string>();
    for (const s of scaled) {
      const target = groups.find((g) => g.metadata.name === s.spec.scaleTargetRef.name);
      const container = target ? containersOf(target)[0] : undefined;
      if (!container?.command) throw new Error(`${s.metadata.name}: no target`);
      const { queues } = parseWorkerArgs(container.command.slice(3), 20);
      for (const q of queues) covered.add(q);
      // maintenance is a scheduler's single job: nothing to scale on.
      const expected = queues
        .filter((q) => q !== 'maintenance')
        .flatMap((q) => prefixes.filter((_, i) => partitionHas(i, q)).map((p) => waitListKey(p, q)));
      const triggers = s.spec.triggers as { type: string; metadata: { listName: string } }[];
      expect(triggers.every((t) => t.type === 'redis-cluster')).toBe(true);
      expect(triggers.map((t) => t.metadata.listName).sort()).toEqual(expected.sort());
    }
    // Every queue has a worker group.
    expect([...covered].sort()).toEqual([...queueNames].sort());
  });
});

describe("BullMQ 6's wait key, as KEDA reads it", () => {
  const redis = createRedis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker');
  const suffix = uniqueSuffix();
  const prefixes = partitionPrefixes(`oftest_${suffix}`, 2);
  afterAll(async () => {
    for (const p of prefixes) await deletePrefixedKeys(redis, p);
    redis.disconnect();
  });

  test('`<prefix>:<queue>:wait` is a list whose LLEN is the number of waiting jobs', async () => {
    for (const prefix of prefixes) {
      const queue = new Queue('reserve', { connection: redis, prefix });
      await queue.addBulk([1, 2, 3].map((n) => ({ name: 'reserve', data: { n } })));
      const key = waitListKey(prefix, 'reserve');
      expect(key.startsWith(`{oftest_${suffix}-`)).toBe(true);
      expect(await redis.type(key)).toBe('list');
      expect(await redis.llen(key)).toBe(3);
      expect(await queue.getWaitingCount()).toBe(3);
      await queue.close();
    }
  });
});

describe('deploy/grafana', () => {
  test('panel ids are unique and no two panels overlap on the grid', async () => {
    const dashboard = (await Bun.file(join(repoRoot, 'deploy/grafana/orderflow-dashboard.json')).json()) as {
      panels: { id: number; title: string; gridPos: { x: number; y: number; w: number; h: number } }[];
    };
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const overlaps: string[] = [];
    dashboard.panels.forEach((a, i) => {
      for (const b of dashboard.panels.slice(i + 1)) {
        const [p, q] = [a.gridPos, b.gridPos];
        if (p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h)
          overlaps.push(`${a.title} / ${b.title}`);
      }
    });
    expect(overlaps).toEqual([]);
    // Every fraud metric the app exports has a panel.
    const text = JSON.stringify(dashboard);
    for (const m of [
      'fraud_decisions_total',
      'fraud_reviews_total',
      'fraud_score_bucket',
      'fraud_review_queue_length',
    ])
      expect(text).toContain(m);
  });

  test('every dashboard query parses as PromQL (promtool check rules)', async () => {
    const dashboard = await Bun.file(join(repoRoot, 'deploy/grafana/orderflow-dashboard.json')).text();
    const exprs = [
      ...new Set(
        [...dashboard.matchAll(/"expr": "((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string),
      ),
    ];
    expect(exprs.length).toBeGreaterThan(10);
    // Grafana's own variables become what they stand for.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((expr, i) => ({
            record: `dashboard:q${i}`,
            expr: expr.replaceAll('$__rate_interval', '5m'),
          })),
        },
      ],
    };
    const file = join(tmpdir(), `orderflow-dashboard-rules-${process.pid}.json`);
    await Bun.write(file, JSON.stringify(rules));
    const bin = Bun.which('promtool');
    if (!bin)
      throw new Error('promtool is missing: run .ci/system-deps (installs Debian package prometheus)');
    const out = Bun.spawnSync([bin, 'check', 'rules', file]);
    expect(out.exitCode, out.stdout.toString() + out.stderr.toString()).toBe(0);
    // Queue counts are summed over partitions after the max over processes (an age is a max of both).
    const queueExprs = exprs.filter((x) => /bullmq_jobs|bullmq_job_/.test(x));
    // The dashboard has queue panels (an empty list would make the check below pass on nothing).
    expect(queueExprs.length).toBeGreaterThanOrEqual(2);
    for (const e of queueExprs) expect(e).toContain('partition');
  });
});

describe('deploy/compose.yaml', () => {
  interface ComposeService {
    command?: string[];
    environment?: Record<string, string>;
    ports?: string[];
    container_name?: string;
    profiles?: string[];
  }
  const composeText = readFileSync(join(repoRoot, 'deploy/compose.yaml'), 'utf8');
  const services = (parse(composeText, { merge: true }) as { services: Record<string, ComposeService> })
    .services;

  test('`docker compose up --scale worker=4` can scale the worker: no fixed name, no host port, no profile', () => {
    const worker = services.worker;
    expect(worker).toBeDefined();
    expect(worker?.container_name).toBeUndefined();
    expect(worker?.ports).toBeUndefined();
    expect(worker?.profiles).toBeUndefined();
    for (const [name, s] of Object.entries(services)) expect(s.container_name, name).toBeUndefined();
  });

  test('its commands and variables are real', async () => {
    const dockerfile = await Bun.file(join(repoRoot, 'deploy/Dockerfile')).text();
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    for (const name of ['api', 'worker']) {
      const s = services[name];
      checkCommand(`compose ${name}`, s?.command ?? cmd);
      const env = Object.keys(s?.environment ?? {});
      expect(env.length).toBeGreaterThan(3);
      expect(env.filter((v) => !configVariables.includes(v))).toEqual([]);
    }
    // ${VAR} interpolations from the host are settings too.
    const text = await Bun.file(join(repoRoot, 'deploy/compose.yaml')).text();
    const interpolated = [...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
    expect(interpolated.filter((v) => !configVariables.includes(v))).toEqual([]);
  });
});
