import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { END, START } from '../../src/data/vocabulary.js';
import { sampleCaptions } from '../../src/decode/sample.js';
import { makeBatch } from '../../src/train/batches.js';
import { maxReferenceCounts, sentenceBleu } from '../../src/eval/bleu.js';
import { advantages, CaptionReward, selfCritical } from '../../src/train/self-critical.js';
import { trainModel, type TrainOptions } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/random.js';
import { TINY_MODEL, tinyData, tinyTrainOptions } from '../helpers/tiny-model.js';
import { images, tokenId, ToyDecoder, toyVocabulary, type Table } from '../helpers/toy-decoder.js';

test('sampled captions follow the model distribution, never end on a dangling word, stop at the limit', async () => {
  const table: Table = {
    '<start>': { a: 0.7, dog: 0.3 },
    a: { dog: 0.5, '<end>': 0.5 }, // "a" is dangling: the end is not drawn, so "dog" always follows
    dog: { '<end>': 0.6, runs: 0.4 },
    runs: { runs: 1 }, // loops until the limit
  };
  const sampled = await sampleCaptions(new ToyDecoder([table]), images(0, 0), toyVocabulary, {
    samples: 2000,
    maxLength: 4,
    rng: new Rng(7),
  });
  assert.equal(sampled.length, 2);
  const all = sampled.flat();
  assert.equal(all.length, 4000);
  const text = (c: { tokens: number[] }) => toyVocabulary.decode(c.tokens);
  const share = (s: string) => all.filter((c) => text(c) === s).length / all.length;
  // P("a dog") = 0.7·1·0.6; P("dog") = 0.3·0.6; everything with "runs" loops to the 4-word limit.
  assert.ok(Math.abs(share('a dog') - 0.42) < 0.03, `a dog: ${share('a dog')}`);
  assert.ok(Math.abs(share('dog') - 0.18) < 0.03, `dog: ${share('dog')}`);
  assert.ok(all.every((c) => !text(c).endsWith(' a') && text(c) !== 'a'));
  for (const c of all) {
    assert.equal(c.ended, !c.tokens.includes(tokenId('runs')));
    if (!c.ended) assert.equal(c.tokens.length, 4);
  }
  // Deterministic for a seed.
  const again = await sampleCaptions(new ToyDecoder([table]), images(0, 0), toyVocabulary, {
    samples: 2000,
    maxLength: 4,
    rng: new Rng(7),
  });
  assert.deepEqual(again, sampled);
});

test('the mean baseline is the mean of the other samples; the greedy baseline is subtracted', () => {
  assert.deepEqual(advantages([1, 2, 3]), [1 - 2.5, 2 - 2, 3 - 1.5]);
  assert.deepEqual(advantages([1, 2, 3], 2), [-1, 0, 1]);
  assert.throws(() => advantages([1]), /at least 2/);
});

test('the reward is CIDEr-D against the image references, and an unfinished caption earns less', () => {
  const items = [
    { image: 0, tokens: [4, 5, 6] },
    { image: 0, tokens: [4, 5, 7] },
    { image: 1, tokens: [8, 9] },
    { image: 1, tokens: [8, 9, 10] },
  ];
  const reward = new CaptionReward(items);
  const finished = reward.score(0, { tokens: [4, 5, 6], ended: true });
  const cut = reward.score(0, { tokens: [4, 5, 6], ended: false });
  assert.ok(finished > cut, `${finished} > ${cut}`);
  assert.ok(
    reward.score(0, { tokens: [4, 5, 6], ended: true }) > reward.score(1, { tokens: [4, 5, 6], ended: true }),
  );
  assert.throws(() => reward.score(5, { tokens: [4], ended: true }), /no training references/);
  // With a BLEU term: CIDEr-D + w · BLEU-4 of the caption, the end marker counted as a word.
  const mixed = new CaptionReward(items, 2);
  const refs = [
    ['4', '5', '6', String(END)],
    ['4', '5', '7', String(END)],
  ];
  const bleu = sentenceBleu(['4', '5', '6', String(END)], maxReferenceCounts(refs), [4, 4]);
  assert.ok(Math.abs(mixed.score(0, { tokens: [4, 5, 6], ended: true }) - (finished + 2 * bleu)) < 1e-12);
  assert.ok(bleu > 0.99, `an exact reference: ${bleu}`);
});

test('a sampled batch weighs every target by its advantage and has no end target when cut', () => {
  const batch = makeBatch(
    [
      { image: 0, tokens: [4, 5], weight: 0.5 },
      { image: 0, tokens: [6, 7, 8], weight: -1, open: true },
    ],
    () => Float32Array.of(1, 2),
    2,
    new Uint32Array(2),
  );
  assert.equal(batch.steps, 3);
  // Row 0: <start> 4 5 → targets 4 5 <end>; row 1: <start> 6 7 → targets 6 7 8 (no <end>).
  assert.deepEqual([...batch.inputs], [START, START, 4, 6, 5, 7]);
  assert.deepEqual([...batch.targets], [4, 6, 5, 7, END, 8]);
  assert.deepEqual([...batch.weights!], [0.5, -1, 0.5, -1, 0.5, -1]);
});

test('self-critical fine-tuning raises the reward of a tiny model and refuses a mismatched resume', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-scst-'));
  try {
    const data = tinyData(8, 3);
    const model = {
      ...TINY_MODEL,
      units: 24,
      decoderUnits: 24,
      embedDim: 12,
      imageDropout: 0,
      embedDropout: 0,
    };
    const base: TrainOptions = {
      ...tinyTrainOptions(join(dir, 'xe')),
      model,
      epochs: 8,
      seed: 3,
    };
    const xe = await trainModel(data, base);
    const scst = (epochs: number, samples = 4): TrainOptions => ({
      ...base,
      outDir: join(dir, 'scst'),
      epochs,
      learningRate: 5e-3,
      initialParams: xe.params,
      objective: selfCritical(data.train, data.trainFeatures, data.vocabulary, {
        samples,
        baseline: 'mean',
        batchSize: 16,
        maxLength: 8,
        seed: 3,
        clipNorm: 5,
      }),
    });
    const first = await trainModel(data, scst(1));
    const r = await trainModel(data, { ...scst(6), resume: true });
    const rewards = r.history.map((h) => h.trainReward!);
    assert.equal(rewards.length, 6);
    assert.ok(
      rewards[5] > rewards[0] + 5,
      `mean sample reward should rise: ${rewards.map((x) => x.toFixed(1)).join(', ')}`,
    );
    assert.equal(first.history[0].trainReward, rewards[0]);
    await assert.rejects(trainModel(data, { ...scst(7, 3), resume: true }), /objective/);

    // The K best beams as the candidates: their mean reward (what beam search writes) rises too.
    const beams = await trainModel(data, {
      ...scst(6),
      outDir: join(dir, 'scst-beam'),
      objective: selfCritical(data.train, data.trainFeatures, data.vocabulary, {
        samples: 3,
        candidates: 'beam',
        baseline: 'mean',
        batchSize: 12,
        maxLength: 8,
        seed: 3,
        clipNorm: 5,
      }),
    });
    const beamRewards = beams.history.map((h) => h.trainReward!);
    assert.ok(
      beamRewards[5] > beamRewards[0],
      `mean beam reward should rise: ${beamRewards.map((x) => x.toFixed(1)).join(', ')}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
