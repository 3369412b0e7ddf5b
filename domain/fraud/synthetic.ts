import type { RiskSignals } from './features';

/** mulberry32: a tiny seeded generator, so the data set (and the model trained on it) is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Draw {
  constructor(readonly rand: () => number) {}
  chance(p: number) {
    return this.rand() < p;
  }
  int(lo: number, hi: number) {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }
  normal() {
    // Box–Muller; 1 - rand() keeps log away from 0.
    return Math.sqrt(-2 * Math.log(1 - this.rand())) * Math.cos(2 * Math.PI * this.rand());
  }
  logNormal(median: number, sigma: number) {
    return median * Math.exp(sigma * this.normal());
  }
  /** Failures before the first success: 0 most often, a long thin tail. */
  geometric(p: number) {
    let k = 0;
    while (!this.chance(p) && k < 50) k++;
    return k;
  }
}

export interface Example {
  signals: RiskSignals;
  fraud: boolean;
}

/**
 * A customer who buys now and then: mostly an older account, one order in a while, one card, an
 * amount near their usual. Some are brand new and place their first order at once.
 */
function legitimate(d: Draw): RiskSignals {
  const brandNew = d.chance(0.2);
  const accountAgeHours = brandNew ? d.rand() * 6 : d.logNormal(24 * 150, 1.4);
  const priorOrders = brandNew ? (d.chance(0.1) ? 1 : 0) : d.geometric(0.25);
  const usualCents = Math.round(d.logNormal(4500, 0.8));
  const usualUnits = 1 + d.geometric(0.55);
  const ordersLast10m = 1 + (d.chance(0.08) ? 1 : 0) + (d.chance(0.015) ? d.int(1, 3) : 0);
  return {
    ordersLast10m,
    ordersLast24h: ordersLast10m + (d.chance(0.25) ? d.geometric(0.5) : 0),
    tokensLast24h: 1 + (d.chance(0.06) ? 1 : 0),
    failedPaymentsLast24h: d.chance(0.05) ? d.int(1, 2) : 0,
    amountCents: Math.max(100, Math.round(usualCents * d.logNormal(1, 0.5))),
    priorOrders,
    priorAvgAmountCents: priorOrders ? usualCents : 0,
    priorAvgUnits: priorOrders ? usualUnits : 0,
    accountAgeHours,
    units: Math.max(1, Math.round(usualUnits * d.logNormal(1, 0.4))),
  };
}

/** Stolen cards tried in a burst: many small orders, many cards, declines. */
function cardTesting(d: Draw): RiskSignals {
  const ordersLast10m = d.int(2, 12);
  const priorOrders = d.int(0, ordersLast10m - 1);
  return {
    ordersLast10m,
    ordersLast24h: ordersLast10m + d.geometric(0.4),
    tokensLast24h: d.int(2, Math.max(2, ordersLast10m)),
    failedPaymentsLast24h: d.int(0, 6),
    amountCents: Math.max(100, Math.round(d.logNormal(1500, 0.7))),
    priorOrders,
    priorAvgAmountCents: priorOrders ? Math.round(d.logNormal(1500, 0.5)) : 0,
    priorAvgUnits: priorOrders ? 1 : 0,
    accountAgeHours: d.logNormal(8, 1.5),
    units: 1 + d.geometric(0.7),
  };
}

/** A real customer's account in someone else's hands: an old account, a new card, a big unusual order. */
function accountTakeover(d: Draw): RiskSignals {
  const priorOrders = 1 + d.geometric(0.25);
  const usualCents = Math.round(d.logNormal(4500, 0.8));
  const ordersLast10m = 1 + d.geometric(0.6);
  return {
    ordersLast10m,
    ordersLast24h: ordersLast10m + d.geometric(0.6),
    tokensLast24h: 2 + d.geometric(0.6),
    failedPaymentsLast24h: d.chance(0.3) ? d.int(1, 3) : 0,
    amountCents: Math.round(usualCents * d.logNormal(6, 0.7)),
    priorOrders,
    priorAvgAmountCents: usualCents,
    priorAvgUnits: 1 + d.geometric(0.55),
    accountAgeHours: d.logNormal(24 * 200, 1.2),
    units: d.int(3, 30),
  };
}

/** An account made to buy as much as it can, once, before anyone looks. */
function bustOut(d: Draw): RiskSignals {
  const ordersLast10m = 1 + d.geometric(0.5);
  return {
    ordersLast10m,
    ordersLast24h: ordersLast10m + d.geometric(0.6),
    tokensLast24h: 1 + d.geometric(0.5),
    failedPaymentsLast24h: d.chance(0.3) ? d.int(1, 4) : 0,
    amountCents: Math.round(d.logNormal(40_000, 0.8)),
    priorOrders: 0,
    priorAvgAmountCents: 0,
    priorAvgUnits: 0,
    accountAgeHours: d.rand() * 12,
    units: d.int(4, 60),
  };
}

/**
 * `rows` examples, `fraudShare` of them fraudulent in three shapes. A tenth of the fraud is drawn
 * as a legitimate customer (fraud that looks normal exists): no model can catch it, so recall is
 * honest rather than perfect.
 */
export function syntheticExamples(seed: number, rows: number, fraudShare: number): Example[] {
  const d = new Draw(seededRandom(seed));
  const out: Example[] = [];
  for (let i = 0; i < rows; i++) {
    if (!d.chance(fraudShare)) {
      out.push({ signals: legitimate(d), fraud: false });
      continue;
    }
    const shape = d.rand();
    const signals = d.chance(0.1)
      ? legitimate(d)
      : shape < 0.35
        ? cardTesting(d)
        : shape < 0.65
          ? accountTakeover(d)
          : bustOut(d);
    out.push({ signals, fraud: true });
  }
  return out;
}
