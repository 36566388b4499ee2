import type { TrainBatch } from '../model/architecture.js';
import { END, PAD, START } from '../data/vocabulary.js';
import { hashInts, Rng } from '../util/random.js';

/** One training caption: word ids (no markers) and the index of its image's feature vector. */
export interface CaptionItem {
  image: number;
  tokens: readonly number[];
  /** Weight of each of its targets (self-critical training's advantage); default 1. */
  weight?: number;
  /** A sampled caption cut at the length limit: no end marker, so no target after its last word. */
  open?: boolean;
}

/**
 * Looks up what the model reads of an image (its pooled vector or spatial map) by index (the order of
 * the split's images). Given `out`, a table may write the values there and return it (a spatial map
 * stored as float16 is decoded straight into the batch, not into a new array then copied).
 */
export type FeatureTable = (image: number, out?: Float32Array) => Float32Array;

/**
 * An epoch's batches as item lists: shuffle, sort each window of `window` batches by length, cut, and
 * shuffle the batch order. Captions of similar length share a batch, so padding wastes little, yet
 * every epoch mixes differently. Depends only on (seed, epoch).
 */
export function planEpoch(
  items: readonly CaptionItem[],
  batchSize: number,
  seed: number,
  epoch: number,
  window = 50,
): CaptionItem[][] {
  const rng = new Rng(hashInts(seed, epoch, 0x5eed));
  const order = rng.shuffle(items.map((_, i) => i));
  const batches: CaptionItem[][] = [];
  const span = batchSize * window;
  for (let start = 0; start < order.length; start += span) {
    const chunk = order
      .slice(start, start + span)
      .sort((a, b) => items[a].tokens.length - items[b].tokens.length || a - b);
    for (let i = 0; i < chunk.length; i += batchSize)
      batches.push(chunk.slice(i, i + batchSize).map((j) => items[j]));
  }
  return rng.shuffle(batches);
}

/** Data augmentation: 'mirror' trains each caption on its photo or the photo's mirror image. */
export type Augmentation = 'mirror';

/**
 * Data augmentation: each caption as it is or, with probability ½, its counterpart in `alternative`
 * (the same caption for its photo's mirror image): drawn anew every epoch, from (seed, epoch) only.
 */
export function pickViews(
  items: readonly CaptionItem[],
  alternative: readonly CaptionItem[],
  seed: number,
  epoch: number,
): CaptionItem[] {
  const rng = new Rng(hashInts(seed, epoch, 0x5f1e));
  return items.map((it, i) => (rng.next() < 0.5 ? alternative[i] : it));
}

/** Dev/test batches: sorted by length, no shuffling, no dropout. */
export function planEval(items: readonly CaptionItem[], batchSize: number): CaptionItem[][] {
  const sorted = [...items].sort((a, b) => a.tokens.length - b.tokens.length);
  const batches: CaptionItem[][] = [];
  for (let i = 0; i < sorted.length; i += batchSize) batches.push(sorted.slice(i, i + batchSize));
  return batches;
}

/** Teacher-forced tensors of a batch; `seedOf(row)` gives each row's dropout stream. */
export function makeBatch(
  items: readonly CaptionItem[],
  features: FeatureTable,
  featureDim: number,
  rowSeeds: Uint32Array,
): TrainBatch {
  const b = items.length;
  // Input steps of each row: <start> and its words, the last word only when an end marker follows it.
  const steps = items.map((it) => it.tokens.length + (it.open ? 0 : 1));
  const T = Math.max(...steps);
  const inputs = new Int32Array(T * b).fill(PAD);
  const n = steps.reduce((a, c) => a + c, 0);
  const positions = new Int32Array(n);
  const targets = new Int32Array(n);
  const weighted = items.some((it) => it.weight !== undefined);
  const weights = weighted ? new Float32Array(n) : undefined;
  const feats = new Float32Array(b * featureDim);
  let k = 0;
  // Time-major positions so the gather of real steps reads the grid in order.
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < b; r++) {
      const words = items[r].tokens;
      if (t >= steps[r]) continue;
      inputs[t * b + r] = t === 0 ? START : words[t - 1];
      positions[k] = t * b + r;
      targets[k] = t === words.length ? END : words[t];
      if (weights) weights[k] = items[r].weight ?? 1;
      k++;
    }
  }
  items.forEach((it, r) => {
    const row = feats.subarray(r * featureDim, (r + 1) * featureDim);
    const v = features(it.image, row);
    if (v.length !== featureDim)
      throw new Error(`image ${it.image}: ${v.length}-d features, expected ${featureDim}`);
    if (v !== row) row.set(v);
  });
  return {
    rows: b,
    steps: T,
    inputs,
    positions,
    targets,
    features: feats,
    rowSeeds,
    ...(weights && { weights }),
  };
}

/** Row seeds of training step `step` of `epoch`: a row's dropout never depends on how a batch is split. */
export function rowSeeds(seed: number, epoch: number, step: number, rows: number): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = hashInts(seed, epoch, step, r, 0xd209);
  return out;
}
