import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxReferenceCounts, sentenceBleu, sentenceBleuOfMatches } from '../../src/eval/bleu.js';
import { CiderD, corpusCiderD } from '../../src/eval/cider.js';
import { ngramCounts } from '../../src/eval/ngrams.js';

const words = (s: string) => s.split(' ').filter((w) => w.length > 0);
const cider = (pairs: [string, string[]][]) =>
  corpusCiderD(
    pairs.map(([c]) => words(c)),
    pairs.map(([, refs]) => refs.map(words)),
  );
const close = (actual: number, expected: number, eps = 1e-5) =>
  assert.ok(Math.abs(actual - expected) < eps, `${actual} is not ${expected} ± ${eps}`);

test('CIDEr-D on three images, computed by hand', () => {
  // 3 images, so idf = log 3 - log df. "a" is in every image's references: df 3, weight 0. Every other
  // n-gram is in one image only: weight g = log 3 per occurrence. Penalty for a length gap of 1
  // (lengths are bigram counts): p = exp(-1/72) = 0.986207.
  //
  // Image A: "a dog runs" vs ["a dog runs", "a dog"].
  //   ref 1 is identical: per n = [1, 1, 1, 0] (no 4-grams: zero norm, 0).
  //   ref 2 "a dog": unigram cosine g² / (g√2 · g) = 0.707107, bigram the same, no trigram; × p:
  //   [0.697354, 0.697354, 0, 0]. Sum [1.697354, 1.697354, 1, 0], mean over n 1.098677, / 2 refs,
  //   × 10 = 5.493384.
  // Image B: "a cat" vs ["a cat sits"]: [0.707107, 0.707107, 0, 0] × p → mean 0.348677 × 10 = 3.486769.
  // Image C: "a bird flies" identical to its one reference: [1, 1, 1, 0] → 0.75 × 10 = 7.5.
  // Corpus: (5.493384 + 3.486769 + 7.5) / 3 = 5.493384.
  const result = cider([
    ['a dog runs', ['a dog runs', 'a dog']],
    ['a cat', ['a cat sits']],
    ['a bird flies', ['a bird flies']],
  ]);
  close(result.perImage[0], 5.493384);
  close(result.perImage[1], 3.486769);
  close(result.perImage[2], 7.5);
  close(result.score, 5.493384);
});

test('CIDEr-D clips the candidate’s weights by the reference’s (no reward for repeating a word)', () => {
  // 2 images, idf = log 2 = g for every n-gram. Image A "dog dog" vs ["dog"]: unigram weights 2g vs g,
  // clipped dot min(2g, g)·g = g², norms 2g and g → 0.5 (an unclipped cosine would give 1). The
  // bigram "dog dog" meets a reference with no bigrams: 0. Length gap 1 → × 0.986207:
  // mean [0.493104, 0, 0, 0] = 0.123276, × 10 = 1.232759.
  // Image B "cat" vs ["cat"]: [1, 0, 0, 0] → 2.5. Corpus (1.232759 + 2.5) / 2 = 1.866379.
  const result = cider([
    ['dog dog', ['dog']],
    ['cat', ['cat']],
  ]);
  close(result.perImage[0], 1.232759);
  close(result.score, 1.866379);
});

test('n-grams found in every image’s references weigh nothing', () => {
  // One image: idf = log 1 - log 1 = 0 for all, every norm is 0, every score 0.
  assert.equal(cider([['a dog', ['a dog']]]).score, 0);
});

test('scoring several candidates at once gives each one’s own score, whatever was scored before', () => {
  const refs = [
    ['a dog runs on the grass', 'a brown dog runs', 'the dog is running'],
    ['a man rides a bike', 'a cyclist on a road'],
    ['two children play in the snow', 'kids playing in snow'],
  ].map((image) => image.map((r) => r.split(' ')));
  const d = new CiderD(refs);
  const candidates = ['a dog runs', 'a dog dog runs on snow', 'a zebra on a road', ''].map((c) =>
    c ? c.split(' ') : [],
  );
  const one = (image: number) => candidates.map((c) => new CiderD(refs).score(image, c));
  for (const image of [2, 0, 1, 0]) {
    const many = d.scoreMany(
      image,
      candidates.map((c) => d.vector(c)),
    );
    assert.deepEqual(many, one(image)); // bit for bit: the same sums in the same order
    assert.deepEqual(
      candidates.map((c) => d.score(image, c)),
      many,
    );
  }
  assert.ok(one(0)[0] > one(0)[2]);
});

test('BLEU’s clipped matches by n-gram number are the n-gram strings’ (and the scores bit for bit)', () => {
  const refs = [
    ['a dog runs on the grass', 'a brown dog runs a dog runs', 'the dog is running'],
    ['a man rides a bike', 'a cyclist on a road'],
  ].map((image) => image.map(words));
  const d = new CiderD(refs);
  const candidates = ['a dog runs a dog runs', 'a dog runs on a road', 'zebra zebra', 'a', ''].map(words);
  for (const image of [0, 1, 0]) {
    const matches = d.clippedMatches(
      image,
      candidates.map((c) => d.vector(c)),
    );
    candidates.forEach((c, i) => {
      const clip = maxReferenceCounts(refs[image], 4);
      const expected = [0, 0, 0, 0];
      for (const [gram, count] of ngramCounts(c, 4))
        expected[gram.split(' ').length - 1] += Math.min(clip.get(gram) ?? 0, count);
      assert.deepEqual([...matches[i]], expected, `${c.join(' ')} against image ${image}`);
      const lengths = refs[image].map((r) => r.length);
      assert.equal(sentenceBleuOfMatches(matches[i], c.length, lengths), sentenceBleu(c, clip, lengths));
    });
  }
  // Each n-gram clipped by the most one reference holds ('dog runs': 2, in the second), not their sum.
  assert.deepEqual(
    [...d.clippedMatches(0, [d.vector(words('a dog runs a dog runs a dog runs'))])[0]],
    [6, 4, 3, 2],
  );
});
