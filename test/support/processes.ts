import type { Subprocess } from 'bun';

export const repoRoot = new URL('../..', import.meta.url).pathname;

/** A port nothing listens on right now (for a process the test spawns, which must be given one). */
export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') });
  const port = probe.port;
  await probe.stop(true);
  if (port === undefined) throw new Error('no free port');
  return port;
}

export interface LogLine {
  msg?: string;
  process?: string;
  child?: string;
  childPid?: number;
  pid?: number;
  [key: string]: unknown;
}

export interface Spawned {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  /** Every JSON line the process (and its inherited children) wrote to stdout so far. */
  lines: LogLine[];
  /** Everything else it wrote (stderr, non-JSON stdout), for failure messages. */
  text: string[];
}

async function pump(stream: ReadableStream<Uint8Array>, out: Spawned): Promise<void> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const chunk of stream) {
    rest += decoder.decode(chunk, { stream: true });
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      try {
        out.lines.push(JSON.parse(line) as LogLine);
      } catch {
        out.text.push(line);
      }
    }
  }
}

/** Spawns `bun <args>` from the repository root with exactly `env` (plus PATH and HOME). */
export function spawnBun(args: string[], env: Record<string, string>): Spawned {
  const proc = Bun.spawn([process.execPath, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const out: Spawned = { proc, lines: [], text: [] };
  void pump(proc.stdout, out);
  void pump(proc.stderr, out);
  return out;
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A free loopback TCP port. */
export function freeTcpPort(): number {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response(null) });
  const port = probe.port;
  probe.stop(true);
  if (!port) throw new Error('no free port');
  return port;
}
