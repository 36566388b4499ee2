import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelCard } from '../../src/pipeline/captioner-types.js';
import { describeModel, percentScore } from '../../web/src/model-info.js';

const card = (metrics: ModelCard['metrics']): ModelCard => ({
  name: 'default',
  architecture: 'merge',
  encoder: { name: 'mobilenetv2-int8', sha256: '' },
  vocabSize: 2533,
  lengthPenalty: 0.7,
  metrics,
});

test('the footer shows BLEU-4 and CIDEr-D ×100, as the README does, test split first', () => {
  // scores.json as `captioner eval --record` writes it: coco-caption's fractions, BLEU-1 first.
  const recorded = {
    dev: { bleu1: 0.608, bleu4: 0.1941, ciderD: 0.455 },
    test: {
      bleu1: 0.6119783695540647,
      bleu2: 0.4294264447791379,
      bleu3: 0.2936334906654725,
      bleu4: 0.19777502711742478,
      rougeL: 0.44828763680768835,
      ciderD: 0.46650095560139354,
      distinct: 725,
      images: 1000,
      beam: 3,
    },
  };
  assert.equal(
    describeModel(card(recorded)),
    'Model: default · image encoder: mobilenetv2-int8 · Flickr8k test BLEU-4 19.8 · CIDEr-D 46.7. Photos are captioned on this server and not kept.',
  );
  // Figures already ×100 stay as they are; another split when there is no test score.
  assert.match(
    describeModel(card({ dev: { bleu4: 19.4, ciderD: 45.5 } })),
    /Flickr8k dev BLEU-4 19\.4 · CIDEr-D 45\.5\./,
  );
  assert.match(describeModel(card({ test: { ciderD: 1.2 } })), /Flickr8k test CIDEr-D 120\.0\./);
  // No scores: no score line.
  assert.equal(
    describeModel(card({})),
    'Model: default · image encoder: mobilenetv2-int8. Photos are captioned on this server and not kept.',
  );
  assert.equal(percentScore('bleu4', 0), '0.0');
});
