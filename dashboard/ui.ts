import { dirname, join } from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { IServerAdapter } from '@bull-board/api/typings/app';
import { HonoAdapter } from '@bull-board/hono';
import type { Hono } from 'hono';
import { serveStatic } from 'hono/bun';
import type { PartitionedQueues } from '../queues/partitioned';

/**
 * The UI package's directory, resolved from this file rather than from the working directory:
 * the board's page, scripts and styles are served from it whatever `cwd` the process started in.
 */
const uiBasePath = dirname(Bun.resolveSync('@bull-board/ui/package.json', import.meta.dir));
const uiStaticRoot = join(uiBasePath, 'dist', 'static');

/**
 * `hono/bun`'s serveStatic with an absolute root. The Hono adapter would pass a root relative to
 * `process.cwd()` as it was when the board was built; this one stays right if the cwd changes later.
 */
const staticFiles: typeof serveStatic = (options) => serveStatic({ ...options, root: uiStaticRoot });

/**
 * Bull Board's own routes (its page, static files and API) over every partition's queues, to be mounted
 * at `basePath`. Loaded by `board.ts` on the first request that passes the admin guard.
 */
export function boardUi(deps: { queues: PartitionedQueues }, basePath: string): Hono {
  const serverAdapter = new HonoAdapter(staticFiles).setBasePath(basePath);
  createBullBoard({
    // Every partition's queues. The board keys queues by name, and each name exists once per
    // partition: with several, a name is shown as `p<partition>.<queue>`, grouped by partition.
    queues: deps.queues.all().map(
      ({ queue, partition }) =>
        new BullMQAdapter(queue, {
          readOnlyMode: false,
          allowRetries: true,
          ...(deps.queues.partitions > 1 ? { prefix: `p${partition}.`, delimiter: '.' } : {}),
        }),
    ),
    // @bull-board/hono 9.10.1 (the newest) types itself against its own nested copy of @bull-board/api
    // 9.10.1; the interface is the same, only the private fields of the two copies differ. At run time
    // the adapter only routes: every handler and the UI come from the top-level 9.10.2 packages.
    serverAdapter: serverAdapter as unknown as IServerAdapter,
    options: { uiBasePath, uiConfig: { boardTitle: 'Orderflow queues' } },
  });
  return serverAdapter.registerPlugin();
}
