import { join } from 'node:path';
import { plugin } from 'bun';
import ts5 from 'typescript5';
import { buildOpenApiDocument } from './openapi-document';

/** Where the generated types live; `client/index.ts` builds the typed client on them. */
export const SCHEMA_FILE = join(import.meta.dir, '..', 'client', 'openapi.ts');

// openapi-typescript 7 drives the TypeScript 5 compiler API to print its types. The project's own
// `typescript` is 7 (the native compiler, no JS API), so `typescript5` (an npm alias of 5.9) is handed
// to it under the name it imports; nothing else in this process loads `typescript`.
plugin({
  name: 'typescript5-for-openapi-typescript',
  setup(build) {
    build.module('typescript', () => ({ exports: { ...ts5, default: ts5 }, loader: 'object' }));
  },
});

/** The text of `client/openapi.ts` for the app's current OpenAPI document. */
export async function generateSchema(): Promise<string> {
  const { default: openapiTS, astToString, COMMENT_HEADER } = await import('openapi-typescript');
  const document = await buildOpenApiDocument();
  const ast = await openapiTS(document as Parameters<typeof openapiTS>[0], { alphabetize: true });
  return `${COMMENT_HEADER}// Run \`bun run client:generate\` after changing a route; test/client.test.ts fails while this is stale.\n\n${astToString(ast)}`;
}

if (import.meta.main) {
  const text = await generateSchema();
  if (process.argv.includes('--stdout')) {
    process.stdout.write(text);
  } else {
    await Bun.write(SCHEMA_FILE, text);
    console.log(`wrote ${SCHEMA_FILE}`);
  }
}
