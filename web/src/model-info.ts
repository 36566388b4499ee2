import type { ModelCard } from '../../src/pipeline/captioner-types.js';

/**
 * A score as the README prints it, ×100 with one decimal. `captioner eval --record` stores coco-caption's
 * fractions (BLEU-4 0.198, CIDEr-D 0.467); a card that already holds ×100 figures is told apart by size
 * (BLEU-4 is at most 1 as a fraction, CIDEr-D at most 10).
 */
export function percentScore(metric: 'bleu4' | 'ciderD', value: number): string {
  const fraction = metric === 'bleu4' ? value <= 1 : value <= 10;
  return (fraction ? value * 100 : value).toFixed(1);
}

/** The footer line: which model answers and how well it scored (test split first). */
export function describeModel(card: ModelCard): string {
  const parts = [`Model: ${card.name}`, `image encoder: ${card.encoder.name}`];
  const split = 'test' in card.metrics ? 'test' : Object.keys(card.metrics)[0];
  const metrics = split ? card.metrics[split] : undefined;
  const shown = (
    [
      ['bleu4', 'BLEU-4'],
      ['ciderD', 'CIDEr-D'],
    ] as const
  ).flatMap(([key, label]) => {
    const value = metrics?.[key];
    return typeof value === 'number' && Number.isFinite(value)
      ? [`${label} ${percentScore(key, value)}`]
      : [];
  });
  if (shown.length > 0) parts.push(`Flickr8k ${split} ${shown.join(' · ')}`);
  return `${parts.join(' · ')}. Photos are captioned on this server and not kept.`;
}
