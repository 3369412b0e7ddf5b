import { createRoute, z } from '@hono/zod-openapi';
import { newRouter } from '../context';
import type { AppDeps } from '../deps';
import { jsonResponse, problem } from '../schemas';

const WorkerProcess = z
  .object({
    name: z.string().openapi({ description: '`host:pid`', example: 'worker-7c9f:1' }),
    queues: z.array(z.string()),
    host: z.string(),
    pid: z.number().int(),
    concurrency: z.number().int(),
    startedAt: z.string(),
    process: z
      .string()
      .optional()
      .openapi({ description: "The supervisor's name for it (`bun run start`)", example: 'worker-2' }),
    partitions: z.array(z.number().int()).openapi({
      description: 'The flow families (QUEUE_PARTITIONS) it takes jobs from',
      example: [0, 1, 2],
    }),
  })
  .openapi('WorkerProcess');
const Workers = z.object({ workers: z.array(WorkerProcess) }).openapi('Workers');

type WorkerProcess = z.infer<typeof WorkerProcess>;

/** What `workers/run.ts` puts in each BullMQ worker's name (and so in Redis's CLIENT LIST). */
const PublishedName = z.object({
  host: z.string().min(1),
  pid: z.number().int(),
  queues: z.array(z.string()),
  concurrency: z.number().int(),
  startedAt: z.string(),
  process: z.string().optional(),
  partition: z.number().int().optional(),
});

/** BullMQ names a worker's connection `<prefix>:<base64 queue>:w:<name>`. */
const WORKER_NAME_SEPARATOR = ':w:';

function parsePublishedName(rawname: string | undefined): z.infer<typeof PublishedName> | undefined {
  if (!rawname) return undefined;
  const at = rawname.indexOf(`${WORKER_NAME_SEPARATOR}{`);
  if (at < 0) return undefined;
  try {
    const parsed = PublishedName.safeParse(JSON.parse(rawname.slice(at + WORKER_NAME_SEPARATOR.length)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The live worker processes: every connection a worker holds on one of our queues, one entry per
 * host+pid. A process that stopped has closed its connections, so it is gone from CLIENT LIST;
 * one killed without closing disappears when Redis notices the dead socket.
 */
export async function liveWorkers(deps: Pick<AppDeps, 'queues'>): Promise<WorkerProcess[]> {
  // Every queue of every partition: a worker's connections are named per queue and partition.
  const lists = await Promise.all(
    deps.queues.all().map(async ({ name, partition, queue }) => ({
      name,
      partition,
      clients: await queue.getWorkers(),
    })),
  );
  const byProcess = new Map<string, WorkerProcess>();
  for (const { name: queueName, partition, clients } of lists) {
    for (const client of clients) {
      // Unnamed workers (not started by workers/run.ts) say nothing about their process: skipped.
      const published = parsePublishedName(client.rawname);
      if (!published) continue;
      const key = `${published.host}:${published.pid}`;
      const seen = byProcess.get(key);
      const names = new Set([...(seen?.queues ?? []), ...published.queues, queueName]);
      byProcess.set(key, {
        name: key,
        host: published.host,
        pid: published.pid,
        queues: [...names].sort(),
        // One process may run several worker sets (tests do): report the largest and the earliest.
        concurrency: Math.max(seen?.concurrency ?? 0, published.concurrency),
        startedAt: seen && seen.startedAt < published.startedAt ? seen.startedAt : published.startedAt,
        partitions: [...new Set([...(seen?.partitions ?? []), published.partition ?? partition])].sort(
          (a, b) => a - b,
        ),
        ...(published.process ? { process: published.process } : {}),
      });
    }
  }
  return [...byProcess.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function systemRoutes(deps: AppDeps) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/workers',
      summary: 'List the live worker processes',
      tags: ['operations'],
      description: 'The live worker processes, read from the connections they hold in Redis.',
      responses: {
        200: jsonResponse(Workers, 'One entry per worker process (host and pid)'),
        401: problem('Not signed in'),
        403: problem('Not an admin'),
      },
    }),
    async (c) => c.json({ workers: await liveWorkers(deps) }, 200),
  );

  return app;
}
