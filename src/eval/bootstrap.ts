import { Rng } from '../util/random.js';
import { bleuCounts, bleuOfCounts, sumBleuCounts, type BleuCounts } from './bleu.js';
import { corpusCiderD } from './cider.js';

/**
 * How far a split's BLEU-4 and CIDEr-D would move with other photos of the same kind: the bootstrap
 * over images (Koehn 2004's for BLEU). A 1,000-photo split is a sample; the photos are drawn again
 * with replacement, many times, and the scores recomputed. Two caption sets of the same photos are
 * compared on the same draws (a paired bootstrap), which tells whether one is better or the difference
 * is the photos'.
 *
 * BLEU-4 is corpus BLEU of each draw's summed n-gram counts, as coco-caption computes it. CIDEr-D is
 * the mean of each drawn photo's score, its document frequencies those of the whole split (redrawing
 * them with the photos would move the scores by far less than the photos do).
 */

/** What one photo adds to the scores. */
export interface ImageStats {
  bleu: BleuCounts;
  /** The photo's CIDEr-D (coco's 0..10 scale), frequencies over the whole set. */
  ciderD: number;
}

/** Per photo, its caption's BLEU counts and CIDEr-D against its references (tokenized, same order). */
export function imageStats(
  candidates: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
): ImageStats[] {
  const cider = corpusCiderD(candidates, references).perImage;
  return candidates.map((c, i) => ({ bleu: bleuCounts(c, references[i], 4), ciderD: cider[i] }));
}

export interface Interval {
  low: number;
  high: number;
}

export interface MetricSpread {
  /** The score on the set as it is. */
  score: number;
  /** Where the middle `level` of the draws' scores lie. */
  interval: Interval;
}

export interface PairedMetric {
  candidate: MetricSpread;
  baseline: MetricSpread;
  /** candidate − baseline on the set as it is, and where the middle `level` of the draws' differences lie. */
  difference: MetricSpread;
  /** The share of draws on which the candidate scored higher. */
  better: number;
}

export const BOOTSTRAP_METRICS = ['bleu4', 'ciderD'] as const;
export type BootstrapMetric = (typeof BOOTSTRAP_METRICS)[number];

export interface BootstrapOptions {
  /** Draws of the photos (default 1,000). */
  draws?: number;
  /** Central share of the draws an interval holds (default 0.95). */
  level?: number;
  /** Seed of the draws (default 1): the same seed, the same intervals. */
  seed?: number;
}

/** The scores of photos `picked` (indices, repeats allowed), on coco's scales as fractions. */
function scoresOf(stats: readonly ImageStats[], picked: ArrayLike<number>): Record<BootstrapMetric, number> {
  const counts: BleuCounts[] = [];
  let cider = 0;
  for (let i = 0; i < picked.length; i++) {
    counts.push(stats[picked[i]].bleu);
    cider += stats[picked[i]].ciderD;
  }
  return { bleu4: bleuOfCounts(sumBleuCounts(counts, 4))[3], ciderD: cider / picked.length };
}

/** The draws: `draws` index lists of n photos each, drawn with replacement. */
function* drawsOf(n: number, options: BootstrapOptions): Generator<Uint32Array> {
  const rng = new Rng(options.seed ?? 1);
  const picked = new Uint32Array(n);
  for (let d = 0; d < (options.draws ?? 1000); d++) {
    for (let i = 0; i < n; i++) picked[i] = Math.floor(rng.next() * n);
    yield picked;
  }
}

function intervalOf(values: number[], level: number): Interval {
  const sorted = [...values].sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
  return { low: at(tail), high: at(1 - tail) };
}

function checkOptions(n: number, options: BootstrapOptions): number {
  if (n === 0) throw new Error('bootstrap: no photos');
  const level = options.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new Error('bootstrap: level must be in (0, 1)');
  if (!(Number.isInteger(options.draws ?? 1000) && (options.draws ?? 1000) >= 10))
    throw new Error('bootstrap: at least 10 draws');
  return level;
}

/** Each metric's score and bootstrap interval for one set of captions. */
export function bootstrapScores(
  stats: readonly ImageStats[],
  options: BootstrapOptions = {},
): Record<BootstrapMetric, MetricSpread> {
  const level = checkOptions(stats.length, options);
  const seen: Record<BootstrapMetric, number[]> = { bleu4: [], ciderD: [] };
  for (const picked of drawsOf(stats.length, options)) {
    const s = scoresOf(stats, picked);
    for (const m of BOOTSTRAP_METRICS) seen[m].push(s[m]);
  }
  const all = scoresOf(
    stats,
    stats.map((_, i) => i),
  );
  const out = {} as Record<BootstrapMetric, MetricSpread>;
  for (const m of BOOTSTRAP_METRICS) out[m] = { score: all[m], interval: intervalOf(seen[m], level) };
  return out;
}

/**
 * A paired bootstrap of two caption sets of the same photos (`candidate[i]` and `baseline[i]` are one
 * photo's): each one's interval, the interval of their difference and how often the candidate wins.
 */
export function pairedBootstrap(
  candidate: readonly ImageStats[],
  baseline: readonly ImageStats[],
  options: BootstrapOptions = {},
): Record<BootstrapMetric, PairedMetric> {
  if (candidate.length !== baseline.length)
    throw new Error(`bootstrap: ${candidate.length} photos against ${baseline.length}`);
  const level = checkOptions(candidate.length, options);
  const fresh = () => ({ c: [] as number[], b: [] as number[], d: [] as number[] });
  const seen: Record<BootstrapMetric, ReturnType<typeof fresh>> = { bleu4: fresh(), ciderD: fresh() };
  for (const picked of drawsOf(candidate.length, options)) {
    const c = scoresOf(candidate, picked);
    const b = scoresOf(baseline, picked);
    for (const m of BOOTSTRAP_METRICS) {
      seen[m].c.push(c[m]);
      seen[m].b.push(b[m]);
      seen[m].d.push(c[m] - b[m]);
    }
  }
  const everyPhoto = candidate.map((_, i) => i);
  const c0 = scoresOf(candidate, everyPhoto);
  const b0 = scoresOf(baseline, everyPhoto);
  const out = {} as Record<BootstrapMetric, PairedMetric>;
  for (const m of BOOTSTRAP_METRICS) {
    const { c, b, d } = seen[m];
    out[m] = {
      candidate: { score: c0[m], interval: intervalOf(c, level) },
      baseline: { score: b0[m], interval: intervalOf(b, level) },
      difference: { score: c0[m] - b0[m], interval: intervalOf(d, level) },
      better: d.filter((x) => x > 0).length / d.length,
    };
  }
  return out;
}
