import type { ModelCard } from '../../src/pipeline/captioner-types.js';

const METRIC_NAMES: Record<string, string> = {
  bleu1: 'BLEU-1',
  bleu4: 'BLEU-4',
  ciderD: 'CIDEr-D',
  cider: 'CIDEr',
  meteor: 'METEOR',
  rougeL: 'ROUGE-L',
};

/** The footer line: which model answers and how well it scored (test split first). */
export function describeModel(card: ModelCard): string {
  const parts = [`Model: ${card.name}`, `image encoder: ${card.encoder.name}`];
  const split = 'test' in card.metrics ? 'test' : Object.keys(card.metrics)[0];
  const scores = split ? Object.entries(card.metrics[split]).slice(0, 3) : [];
  if (scores.length > 0) {
    const shown = scores.map(([key, value]) => `${METRIC_NAMES[key] ?? key} ${+value.toFixed(1)}`).join(', ');
    parts.push(`${shown} on the Flickr8k ${split} split`);
  }
  return `${parts.join(' · ')}. Photos are captioned on this server and not kept.`;
}
