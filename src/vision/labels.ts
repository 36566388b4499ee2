import { readFile } from 'node:fs/promises';
import { CaptionerError } from '../util/errors.js';
import { ensureAsset, locateAsset, type EnsureAssetOptions } from './assets.js';
import { LABEL_ASSETS } from './encoders.js';

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/** The ImageNet class names: imagenet_labels.json or synset.txt on the asset path, else downloaded. */
export async function loadImageNetLabels(options: EnsureAssetOptions = {}): Promise<string[]> {
  let path: string | undefined;
  for (const spec of LABEL_ASSETS) path ??= await locateAsset(spec);
  path ??= await ensureAsset(LABEL_ASSETS[LABEL_ASSETS.length - 1], options);
  return parseLabels(await readFile(path, 'utf8'), path);
}

/** A JSON array of names, or synset lines ("n01440764 tench, Tinca tinca"). */
export function parseLabels(text: string, source: string): string[] {
  let labels: unknown;
  if (text.trimStart().startsWith('[')) {
    try {
      labels = JSON.parse(text);
    } catch {
      labels = undefined;
    }
  } else {
    labels = text
      .split(/\r?\n/)
      .filter((line) => line.trim())
      .map((line) => line.replace(/^n\d{8}\s+/, '').trim());
  }
  if (!Array.isArray(labels) || labels.length < 2 || !labels.every((l) => typeof l === 'string'))
    throw new CaptionerError('LABELS_INVALID', `${source} is not a list of class names`);
  return labels as string[];
}

/**
 * The k most likely classes. Softmax is applied unless the scores already are probabilities; a model with
 * one more class than labels (TensorFlow's "background" at 0) is shifted.
 */
export function topK(scores: Float32Array, labels: string[], k = 5): Prediction[] {
  const offset = scores.length === labels.length + 1 ? 1 : 0;
  if (scores.length - offset !== labels.length)
    throw new CaptionerError(
      'LABELS_MISMATCH',
      `the encoder has ${scores.length} classes but there are ${labels.length} labels`,
    );
  let sum = 0;
  let isProbability = true;
  for (const s of scores) {
    if (s < 0 || s > 1) isProbability = false;
    sum += s;
  }
  isProbability &&= Math.abs(sum - 1) < 1e-3;
  let probs: Float64Array;
  if (isProbability) probs = Float64Array.from(scores);
  else {
    const max = Math.max(...scores);
    probs = Float64Array.from(scores, (s) => Math.exp(s - max));
    const total = probs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < probs.length; i++) probs[i] /= total;
  }
  const order = Array.from({ length: labels.length }, (_, i) => i + offset).sort(
    (a, b) => probs[b] - probs[a],
  );
  return order
    .slice(0, k)
    .map((i) => ({ index: i - offset, label: labels[i - offset], probability: probs[i] }));
}
