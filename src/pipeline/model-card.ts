import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ConsensusIndex } from '../decode/consensus.js';
import type { LoadedModel } from '../model/model-folder.js';
import type { ModelCard } from './captioner-types.js';

/** Scores a model folder may carry beside its weights, written by `captioner eval`: {split: {metric: value}}. */
export const SCORES_FILE = 'scores.json';
export const CARD_FILE = 'README.md';

/**
 * The card a client sees: what the model is, what it was trained on, how well it scores. `attention`:
 * whether its decoder says where it looked (known once its step graph is built; see loadCaptioner);
 * `consensus`: the index its captions are reranked with, if any.
 */
export async function readModelCard(
  model: LoadedModel,
  options: { attention?: boolean; consensus?: ConsensusIndex } = {},
): Promise<ModelCard> {
  const optional = (file: string) => readFile(join(model.dir, file), 'utf8').catch(() => undefined);
  const metricsText = await optional(SCORES_FILE);
  let metrics: ModelCard['metrics'] = {};
  if (metricsText) {
    try {
      metrics = JSON.parse(metricsText) as ModelCard['metrics'];
    } catch {
      metrics = {};
    }
  }
  const encoder = model.config.encoder;
  return {
    name: basename(model.dir),
    architecture: architectureOf(model),
    encoder: { name: encoder?.name ?? 'unknown', sha256: encoder?.sha256 ?? '' },
    vocabSize: model.vocabulary.size,
    lengthPenalty: model.config.decoding?.lengthPenalty ?? 0,
    metrics,
    description: await optional(CARD_FILE),
    ...(options.attention ? { attention: true } : {}),
    ...(options.consensus
      ? { consensus: { ...options.consensus.settings, photos: options.consensus.count } }
      : {}),
  };
}

/** "merge", "attention", or for an ensemble its members' ("ensemble of attention + 3 × merge"). */
function architectureOf(model: LoadedModel): string {
  if (!model.members) return model.config.model.arch;
  const counts = new Map<string, number>();
  for (const m of model.members) counts.set(m.config.model.arch, (counts.get(m.config.model.arch) ?? 0) + 1);
  return `ensemble of ${[...counts].map(([arch, n]) => (n > 1 ? `${n} × ${arch}` : arch)).join(' + ')}`;
}
