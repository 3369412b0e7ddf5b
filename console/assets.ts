import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import type { ConsoleEnv } from './deps';

/** The console's own files, read once from beside this module (not from the working directory). */
const files: Record<string, { type: string; body: string }> = {
  'console.css': { type: 'text/css; charset=utf-8', body: read('console.css') },
  'console.js': { type: 'text/javascript; charset=utf-8', body: read('console.js') },
};

function read(name: string): string {
  return readFileSync(join(import.meta.dir, 'assets', name), 'utf8');
}

/** Serves the stylesheet and the script: every byte a console page loads comes from the app. */
export function assetRoutes(app: Hono<ConsoleEnv>): void {
  app.get('/assets/:name', (c) => {
    const file = files[c.req.param('name')];
    if (!file) return c.notFound();
    return c.body(file.body, 200, { 'content-type': file.type, 'cache-control': 'public, max-age=300' });
  });
}
