/**
 * Preloaded (`bun --preload`) by `bun run lint:layers`: dependency-cruiser parses TypeScript with the
 * `typescript` package, and the one installed (7.0, the native compiler the typecheck uses) lacks the
 * API it needs. This points its imports of `typescript` at `typescript5` (5.9, a devDependency) for
 * this process only; the typecheck keeps 7.0. Bun runs the CLI because the machine's node is too old
 * for dependency-cruiser 18.
 */
import { plugin } from 'bun';

const ts5 = `${process.cwd()}/node_modules/typescript5`;

plugin({
  name: 'typescript5-for-dependency-cruiser',
  setup(build) {
    // The version check reads the package's manifest through require().
    build.onResolve({ filter: /^typescript\/package\.json$/ }, () => ({ path: `${ts5}/package.json` }));
    // A dynamic import() does not pass through onResolve: replace what `typescript` 7.0's entry loads.
    build.onLoad({ filter: /node_modules\/typescript\/lib\/version\.cjs$/ }, () => ({
      contents: `import ts from ${JSON.stringify(`${ts5}/lib/typescript.js`)}; export default ts;`,
      loader: 'js',
    }));
  },
});
