import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';

/**
 * A throw-away Redis Cluster of `redis-server` processes on loopback ports of its own, in a temporary
 * directory: three masters, no replicas, created with `redis-cli --cluster create`. A master can be
 * killed and started again on its port (it keeps its node id and slots in its nodes file).
 */
export interface TestCluster {
  ports: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  kill(port: number): void;
  restart(port: number): Promise<void>;
  /** `redis-cli -p <port> <args…>`'s output. */
  cli(port: number, ...args: string[]): string;
  /** The port of the master that serves `key`'s slot. */
  ownerOf(key: string): number;
  stop(): Promise<void>;
}

function freePair(taken: Set<number>): number {
  // The cluster bus listens on port + 10000: both must be free.
  for (let tries = 0; tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if (taken.has(port)) continue;
    try {
      for (const p of [port, port + 10_000]) {
        const s = Bun.serve({ port: p, hostname: '127.0.0.1', fetch: () => new Response(null) });
        s.stop(true);
      }
      taken.add(port);
      return port;
    } catch {}
  }
  throw new Error('no free port pair for a cluster node');
}

export async function startCluster(masters = 3): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'orderflow-cluster-'));
  const taken = new Set<number>();
  const ports = Array.from({ length: masters }, () => freePair(taken));
  const procs = new Map<number, Subprocess>();

  const cli = (port: number, ...args: string[]) => {
    const out = Bun.spawnSync(['redis-cli', '-h', '127.0.0.1', '-p', String(port), ...args]);
    return out.stdout.toString() + out.stderr.toString();
  };
  const spawn = async (port: number) => {
    const proc = Bun.spawn(
      [
        'redis-server',
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
        // No replicas here: without this, one master down stops every slot, not only its own.
        '--cluster-require-full-coverage',
        'no',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--logfile',
        `redis-${port}.log`,
      ],
      { stdout: 'ignore', stderr: 'ignore', cwd: dir },
    );
    procs.set(port, proc);
    for (let i = 0; i < 100; i++) {
      if (cli(port, 'ping').includes('PONG')) return;
      await Bun.sleep(50);
    }
    throw new Error(`redis-server on ${port} did not start`);
  };
  const clusterOk = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (ports.every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok'))) return;
      await Bun.sleep(100);
    }
    throw new Error(
      `cluster not ok: ${ports.map((p) => cli(p, 'cluster', 'info').split('\n')[0]).join(' / ')}`,
    );
  };

  await Promise.all(ports.map(spawn));
  const created = Bun.spawnSync([
    'redis-cli',
    '--cluster',
    'create',
    ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  if (created.exitCode !== 0) throw new Error(`cluster create failed: ${created.stdout}${created.stderr}`);
  await clusterOk(30_000);

  return {
    ports,
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    cli,
    ownerOf(key) {
      const anyUp = ports.find((p) => cli(p, 'ping').includes('PONG')) ?? ports[0] ?? 0;
      const slot = Number(cli(anyUp, 'cluster', 'keyslot', key).trim());
      // `cluster nodes`: `<id> <host:port@bus> <flags> … <slot ranges…>`, one line per node.
      for (const line of cli(anyUp, 'cluster', 'nodes').trim().split('\n')) {
        const fields = line.split(' ');
        const port = Number(fields[1]?.split('@')[0]?.split(':')[1]);
        for (const range of fields.slice(8)) {
          const [from, to = from] = range.split('-').map(Number);
          if (from !== undefined && to !== undefined && slot >= from && slot <= to) return port;
        }
      }
      throw new Error(`no master serves slot ${slot}`);
    },
    kill(port) {
      procs.get(port)?.kill('SIGKILL');
    },
    async restart(port) {
      await procs.get(port)?.exited;
      await spawn(port);
      await clusterOk(30_000);
    },
    async stop() {
      for (const proc of procs.values()) proc.kill('SIGKILL');
      await Promise.all([...procs.values()].map((p) => p.exited));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
