import { z } from 'zod';
import { type FeatureName, featureNames, features, type RiskSignals } from './features';
import committed from './model.json';

/**
 * A logistic regression over standardised features: score = σ(b + Σ wᵢ·(xᵢ − μᵢ)/σᵢ). Ten
 * multiply-adds and one exp: scoring costs microseconds and needs nothing at run time but this JSON.
 */
export const ModelFile = z.strictObject({
  /** Bumped by hand when the features or the data generator change; the hash names the exact weights. */
  version: z.string().min(1).max(20),
  features: z.array(z.enum(featureNames)),
  mean: z.array(z.number()),
  scale: z.array(z.number().positive()),
  weights: z.array(z.number()),
  bias: z.number(),
  trainedOn: z.strictObject({ seed: z.number().int(), rows: z.number().int(), fraudShare: z.number() }),
});
export type ModelFile = z.infer<typeof ModelFile>;

export interface Scored {
  score: number;
  /** The features that pushed this order's score up the most, compared with an average order. */
  reasons: FeatureName[];
}

export class RiskModel {
  /** `<version>@<8 hex of the weights>`: stored on every screened order. */
  readonly id: string;

  constructor(readonly file: ModelFile) {
    const n = featureNames.length;
    const lengths = [file.features.length, file.mean.length, file.scale.length, file.weights.length];
    if (lengths.some((l) => l !== n) || file.features.some((f, i) => f !== featureNames[i])) {
      throw new Error(`fraud model ${file.version} does not match the feature list of this build`);
    }
    const digest = new Bun.CryptoHasher('sha256').update(JSON.stringify(file)).digest('hex');
    this.id = `${file.version}@${digest.slice(0, 8)}`;
  }

  score(signals: RiskSignals): Scored {
    const x = features(signals);
    const { mean, scale, weights } = this.file;
    let z = this.file.bias;
    const contributions: { name: FeatureName; c: number }[] = [];
    for (let i = 0; i < x.length; i++) {
      const c = (weights[i] ?? 0) * (((x[i] ?? 0) - (mean[i] ?? 0)) / (scale[i] ?? 1));
      z += c;
      // Half a logit above the average order is worth telling the reviewer about.
      if (c > 0.5) contributions.push({ name: featureNames[i] as FeatureName, c });
    }
    contributions.sort((a, b) => b.c - a.c);
    return { score: 1 / (1 + Math.exp(-z)), reasons: contributions.slice(0, 4).map((r) => r.name) };
  }
}

/** The model shipped with this build (domain/fraud/model.json, written by `bun run fraud:train`). */
export function loadCommittedModel(): RiskModel {
  return new RiskModel(ModelFile.parse(committed));
}
