import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context';

/** The document's head; `scripts/client-generate.ts` builds the same document from it. */
export const OPENAPI_CONFIG = {
  openapi: '3.1.0',
  info: {
    title: 'Orderflow API',
    version: '0.1.0',
    description: 'Asynchronous order processing: reserve → charge → notify.',
  },
  // The reference lists the tags in this order, the story first and operations last.
  tags: [
    { name: 'orders', description: 'Place, follow and cancel orders' },
    { name: 'payments', description: 'Pay for a reserved order and read its payment' },
    { name: 'catalogue', description: 'Products and their prices' },
    { name: 'inventory', description: 'Stock: available and reserved units' },
    { name: 'auth', description: 'Accounts and tokens' },
    { name: 'notifications', description: 'Emails and SMS sent by an admin' },
    { name: 'operations', description: 'Health, metrics and workers' },
  ],
};

/**
 * The reference's browser bundle, read from the installed package: the page needs no CDN, so it
 * renders on a machine without internet access. The version is in the URL, so the file can be
 * cached for a year and a new install still gets the new bundle.
 */
const scalarRoot = dirname(Bun.resolveSync('@scalar/api-reference/package.json', import.meta.dir));
const scalarVersion = (await Bun.file(join(scalarRoot, 'package.json')).json()) as { version: string };
const bundleFile = join(scalarRoot, 'dist', 'browser', 'standalone.js');
export const DOCS_BUNDLE_PATH = `/docs/assets/api-reference-${scalarVersion.version}.js`;

/** The reference page's settings: everything from the app itself, nothing from outside. */
const pageOptions = {
  url: '/openapi.json',
  pageTitle: 'Orderflow API',
  // `cdn` makes the page load this one self-contained script instead of the CDN's ES modules.
  cdn: DOCS_BUNDLE_PATH,
  operationTitleSource: 'summary',
  defaultOpenAllTags: true,
  // Nothing else from outside either: no web fonts, no telemetry, none of the hosted services
  // (AI agent, MCP, SDK generation, the toolbar's deploy and share).
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: 'never',
} as const;

/**
 * `GET /docs` (the browsable reference) and the script it loads; both outside the API description.
 * Scalar's page renderer is loaded on the first `GET /docs`, not at start: few requests ever ask for
 * it, and loading it at start would add its modules to every API process's resident memory.
 */
export function mountDocs(app: OpenAPIHono<AppEnv>): void {
  app.get(DOCS_BUNDLE_PATH, () => {
    return new Response(Bun.file(bundleFile), {
      headers: {
        'content-type': 'text/javascript; charset=utf-8',
        'cache-control': 'public, max-age=31536000, immutable',
      },
    });
  });
  let page: Promise<MiddlewareHandler> | undefined;
  app.get('/docs', async (c, next) => {
    page ??= import('@scalar/hono-api-reference').then(({ Scalar }) => Scalar(pageOptions));
    // A failed load is tried again by the next request rather than remembered.
    page.catch(() => {
      page = undefined;
    });
    return (await page)(c, next);
  });
}
