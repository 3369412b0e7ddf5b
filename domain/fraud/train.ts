import { featureNames, features, type RiskSignals } from './features';
import { type ModelFile, RiskModel } from './model';
import { type Example, seededRandom, syntheticExamples } from './synthetic';

export const TRAINING = {
  version: 'lr-1',
  seed: 20_261_126,
  rows: 20_000,
  fraudShare: 0.06,
  testShare: 0.2,
  epochs: 1000,
  learningRate: 0.5,
  l2: 0.001,
} as const;

/** The thresholds the report evaluates (the config's defaults, RISK_REVIEW_AT and RISK_REJECT_AT). */
export interface Thresholds {
  reviewAt: number;
  rejectAt: number;
}

export interface Trained {
  model: ModelFile;
  /** The weights file as committed: same input, same bytes. */
  json: string;
  /** docs/fraud-model.md. */
  report: string;
}

const round = (x: number, digits = 6) => Number(x.toFixed(digits));

/** Fisher–Yates with the seeded generator, then the first part trains and the rest is held out. */
function split(examples: Example[], seed: number, testShare: number) {
  const rand = seededRandom(seed ^ 0x5eed);
  const shuffled = [...examples];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as Example, shuffled[i] as Example];
  }
  const cut = Math.round(shuffled.length * (1 - testShare));
  return { train: shuffled.slice(0, cut), test: shuffled.slice(cut) };
}

/** Full-batch gradient descent on the log loss with a small L2 penalty: no randomness, so it reproduces. */
function fit(xs: number[][], ys: number[], epochs: number, lr: number, l2: number) {
  const n = xs.length;
  const k = xs[0]?.length ?? 0;
  const w = new Array<number>(k).fill(0);
  let b = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const gw = new Array<number>(k).fill(0);
    let gb = 0;
    for (let r = 0; r < n; r++) {
      const x = xs[r] as number[];
      let z = b;
      for (let i = 0; i < k; i++) z += (w[i] as number) * (x[i] as number);
      const err = 1 / (1 + Math.exp(-z)) - (ys[r] as number);
      for (let i = 0; i < k; i++) gw[i] = (gw[i] as number) + err * (x[i] as number);
      gb += err;
    }
    for (let i = 0; i < k; i++)
      w[i] = (w[i] as number) - lr * ((gw[i] as number) / n + l2 * (w[i] as number));
    b -= lr * (gb / n);
  }
  return { w, b };
}

/** ROC AUC as the probability that a random fraud scores above a random legitimate order (ties count half). */
export function rocAuc(scores: number[], labels: boolean[]): number {
  const order = scores.map((s, i) => ({ s, y: labels[i] })).sort((a, b) => a.s - b.s);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && order[j]?.s === order[i]?.s) j++;
    const midRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) {
      if (order[t]?.y) {
        rankSum += midRank;
        positives++;
      }
    }
    i = j;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

function atThreshold(scores: number[], labels: boolean[], t: number) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  scores.forEach((s, i) => {
    if (s >= t && labels[i]) tp++;
    else if (s >= t) fp++;
    else if (labels[i]) fn++;
  });
  return {
    flagged: tp + fp,
    precision: tp + fp ? tp / (tp + fp) : 1,
    recall: tp + fn ? tp / (tp + fn) : 0,
    falsePositiveRate: fp / labels.filter((y) => !y).length,
  };
}

/** A year-old account's usual order: the baseline the tests move one signal away from. */
export const regularCustomer: RiskSignals = {
  ordersLast10m: 1,
  ordersLast24h: 1,
  tokensLast24h: 1,
  failedPaymentsLast24h: 0,
  amountCents: 5200,
  priorOrders: 6,
  priorAvgAmountCents: 4800,
  priorAvgUnits: 2,
  accountAgeHours: 24 * 400,
  units: 2,
};

/** Orders a reader can picture, with the score and reasons the trained model gives them. */
const examples: { label: string; signals: RiskSignals }[] = [
  {
    label: "a new customer's first order (45.00, 3 units)",
    signals: {
      ordersLast10m: 1,
      ordersLast24h: 1,
      tokensLast24h: 1,
      failedPaymentsLast24h: 0,
      amountCents: 4500,
      priorOrders: 0,
      priorAvgAmountCents: 0,
      priorAvgUnits: 0,
      accountAgeHours: 0.1,
      units: 3,
    },
  },
  { label: 'a regular customer, usual basket', signals: regularCustomer },
  {
    label: 'card testing: 6th order in 10 minutes, 5 cards, 3 declines',
    signals: {
      ordersLast10m: 6,
      ordersLast24h: 6,
      tokensLast24h: 5,
      failedPaymentsLast24h: 3,
      amountCents: 1200,
      priorOrders: 5,
      priorAvgAmountCents: 1100,
      priorAvgUnits: 1,
      accountAgeHours: 3,
      units: 1,
    },
  },
  {
    label: 'takeover: old account, new card, 8× the usual amount, 20 units',
    signals: {
      ordersLast10m: 1,
      ordersLast24h: 2,
      tokensLast24h: 2,
      failedPaymentsLast24h: 0,
      amountCents: 38_000,
      priorOrders: 4,
      priorAvgAmountCents: 4700,
      priorAvgUnits: 2,
      accountAgeHours: 24 * 300,
      units: 20,
    },
  },
  {
    label: 'bust-out: account 1 hour old, first order 600.00, 40 units',
    signals: {
      ordersLast10m: 1,
      ordersLast24h: 1,
      tokensLast24h: 1,
      failedPaymentsLast24h: 0,
      amountCents: 60_000,
      priorOrders: 0,
      priorAvgAmountCents: 0,
      priorAvgUnits: 0,
      accountAgeHours: 1,
      units: 40,
    },
  },
];

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** Generates the data, trains, evaluates on the held-out split, and renders the weights and the report. */
export function train(thresholds: Thresholds, opts = TRAINING): Trained {
  const data = syntheticExamples(opts.seed, opts.rows, opts.fraudShare);
  const { train: trainSet, test } = split(data, opts.seed, opts.testShare);
  const raw = trainSet.map((e) => features(e.signals));
  const k = featureNames.length;
  const mean = Array.from(
    { length: k },
    (_, i) => raw.reduce((s, x) => s + (x[i] as number), 0) / raw.length,
  );
  const scale = Array.from({ length: k }, (_, i) => {
    const m = mean[i] as number;
    const v = raw.reduce((s, x) => s + ((x[i] as number) - m) ** 2, 0) / raw.length;
    return Math.sqrt(v) || 1;
  });
  const xs = raw.map((x) => x.map((v, i) => (v - (mean[i] as number)) / (scale[i] as number)));
  const { w, b } = fit(
    xs,
    trainSet.map((e) => (e.fraud ? 1 : 0)),
    opts.epochs,
    opts.learningRate,
    opts.l2,
  );
  const model: ModelFile = {
    version: opts.version,
    features: [...featureNames],
    mean: mean.map((m) => round(m)),
    scale: scale.map((s) => round(s)),
    weights: w.map((x) => round(x)),
    bias: round(b),
    trainedOn: { seed: opts.seed, rows: opts.rows, fraudShare: opts.fraudShare },
  };
  // Evaluated with the rounded weights: the numbers describe the file that ships.
  const scorer = new RiskModel(model);
  const scores = test.map((e) => scorer.score(e.signals).score);
  const labels = test.map((e) => e.fraud);
  const report = renderReport(model, scorer, thresholds, {
    trainRows: trainSet.length,
    testRows: test.length,
    testFraud: labels.filter(Boolean).length,
    auc: rocAuc(scores, labels),
    review: atThreshold(scores, labels, thresholds.reviewAt),
    reject: atThreshold(scores, labels, thresholds.rejectAt),
    curve: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((t) => ({ t, ...atThreshold(scores, labels, t) })),
  });
  return { model, json: `${JSON.stringify(model, null, 2)}\n`, report };
}

function renderReport(
  model: ModelFile,
  scorer: RiskModel,
  thresholds: Thresholds,
  m: {
    trainRows: number;
    testRows: number;
    testFraud: number;
    auc: number;
    review: ReturnType<typeof atThreshold>;
    reject: ReturnType<typeof atThreshold>;
    curve: (ReturnType<typeof atThreshold> & { t: number })[];
  },
): string {
  const lines = [
    '# Fraud model',
    '',
    'Written by `bun run fraud:train` (domain/fraud/train.ts); do not edit by hand. Running it again',
    'reproduces this page and `domain/fraud/model.json` byte for byte (test/fraud-model.test.ts checks).',
    '',
    `Model \`${scorer.id}\`: logistic regression over ${model.features.length} standardised features,`,
    `trained by full-batch gradient descent (${TRAINING.epochs} epochs, learning rate ${TRAINING.learningRate},`,
    `L2 ${TRAINING.l2}) on a synthetic data set drawn with seed ${model.trainedOn.seed}:`,
    `${model.trainedOn.rows} orders, ${pct(model.trainedOn.fraudShare)} fraudulent in three shapes (card`,
    'testing, account takeover, bust-out; a tenth of the fraud drawn as ordinary customers), split',
    `${m.trainRows} for training and ${m.testRows} held out (${m.testFraud} fraudulent).`,
    '',
    '## Held-out evaluation',
    '',
    `ROC AUC: **${m.auc.toFixed(4)}**`,
    '',
    '| decision at score ≥ | flagged | precision | recall | false-positive rate |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...m.curve.map((c) => {
      const tag =
        c.t === thresholds.reviewAt
          ? ' (`RISK_REVIEW_AT`)'
          : c.t === thresholds.rejectAt
            ? ' (`RISK_REJECT_AT`)'
            : '';
      return `| ${c.t.toFixed(1)}${tag} | ${c.flagged} | ${pct(c.precision)} | ${pct(c.recall)} | ${pct(c.falsePositiveRate)} |`;
    }),
    '',
    `With the defaults, review or reject catches ${pct(m.review.recall)} of the held-out fraud at`,
    `${pct(m.review.precision)} precision; reject alone catches ${pct(m.reject.recall)} at ${pct(m.reject.precision)}.`,
    '',
    '## Weights',
    '',
    '| feature (reason) | weight | mean | scale |',
    '| --- | ---: | ---: | ---: |',
    ...model.features.map(
      (f, i) => `| \`${f}\` | ${model.weights[i]} | ${model.mean[i]} | ${model.scale[i]} |`,
    ),
    `| bias | ${model.bias} | | |`,
    '',
    '## Examples',
    '',
    '| order | score | reasons |',
    '| --- | ---: | --- |',
    ...examples.map((e) => {
      const s = scorer.score(e.signals);
      return `| ${e.label} | ${s.score.toFixed(3)} | ${s.reasons.map((r) => `\`${r}\``).join(', ')} |`;
    }),
    '',
  ];
  return lines.join('\n');
}
