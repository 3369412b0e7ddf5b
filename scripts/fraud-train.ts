import { train } from '../domain/fraud/train';
import { loadConfig } from '../lib/config';

/**
 * `bun run fraud:train`: trains the fraud model on its seeded synthetic data and writes the weights
 * (domain/fraud/model.json) and the evaluation (docs/fraud-model.md). Same code, same bytes.
 */
const defaults = loadConfig({ NODE_ENV: 'test' });
const root = new URL('..', import.meta.url).pathname;
const started = performance.now();
const trained = train({ reviewAt: defaults.RISK_REVIEW_AT, rejectAt: defaults.RISK_REJECT_AT });
await Bun.write(`${root}domain/fraud/model.json`, trained.json);
await Bun.write(`${root}docs/fraud-model.md`, trained.report);
console.log(trained.report);
console.log(`trained in ${Math.round(performance.now() - started)} ms`);
