import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closestLength, corpusBleu, maxReferenceCounts, sentenceBleu } from '../../src/eval/bleu.js';

const words = (s: string) => s.split(' ').filter((w) => w.length > 0);
const bleu = (pairs: [string, string[]][]) =>
  corpusBleu(
    pairs.map(([c]) => words(c)),
    pairs.map(([, refs]) => refs.map(words)),
  ).scores;
const close = (actual: number, expected: number, eps = 1e-6) =>
  assert.ok(Math.abs(actual - expected) < eps, `${actual} is not ${expected} ± ${eps}`);

test('a candidate equal to a reference scores 1 (less coco’s epsilons)', () => {
  const scores = bleu([['a dog runs on the grass', ['a dog runs on the grass', 'a cat sleeps']]]);
  // correct = guess = [6, 5, 4, 3]; each precision is (c + 1e-15) / (c + 1e-9) ≈ 1 - 1e-9/c, and
  // ratio (6 + 1e-15) / (6 + 1e-9) < 1 still applies a brevity penalty of exp(-1.7e-10).
  for (const s of scores) {
    close(s, 1, 1e-8);
    assert.ok(s < 1, 'coco never reaches exactly 1');
  }
});

test('brevity penalty uses the closest reference length; a missing 4-gram leaves 1e-6 in BLEU-4', () => {
  // Candidate of 3 words; reference lengths 5 and 7 → closest 5. All 1-, 2-, 3-grams match (3/3, 2/2,
  // 1/1); no 4-gram: (0 + 1e-15) / (0 + 1e-9) = 1e-6.
  // BP = exp(1 - 5/3) = exp(-2/3) = 0.513417. BLEU-1..3 = 0.513417; BLEU-4 = 0.513417 × (1e-6)^(1/4)
  // = 0.513417 × 0.0316228 = 0.0162357.
  const scores = bleu([['a dog runs', ['a dog runs fast today', 'the big dog runs in the park']]]);
  close(scores[0], 0.513417);
  close(scores[1], 0.513417);
  close(scores[2], 0.513417);
  close(scores[3], 0.0162357);
});

test('closest reference length: ties go to the shorter one', () => {
  assert.equal(closestLength([5, 3], 4), 3);
  assert.equal(closestLength([3, 5], 4), 3);
  assert.equal(closestLength([9, 6, 2], 7), 6);
  // Candidate 4 words, references 3 and 5 → 3: the candidate is longer, no penalty.
  const scores = bleu([['a b c d', ['a b c', 'a b c d e']]]);
  close(scores[0], 1, 1e-8);
});

test('n-gram counts are clipped by the most any single reference holds', () => {
  // "the" ×4 against a reference with "the" ×2: 2 of 4 unigrams count, 0.5.
  // BP: 4 vs 6 words → exp(1 - 6/4) = exp(-0.5) = 0.606531; BLEU-1 = 0.5 × 0.606531 = 0.303265.
  const scores = bleu([['the the the the', ['the cat is on the mat']]]);
  close(scores[0], 0.303265);
});

test('corpus level: matches and totals are summed over images, not averaged', () => {
  // Image 1: 4 of 4 unigrams match; image 2: 0 of 2. Corpus BLEU-1 = 4/6 = 0.666667 (a mean of
  // per-image scores would give 0.5). Lengths 6 vs 6: no real penalty.
  const scores = bleu([
    ['a b c d', ['a b c d']],
    ['x y', ['p q']],
  ]);
  close(scores[0], 4 / 6);
});

test('sentence BLEU (a training reward): add-one smoothing above unigrams, the closest length for brevity', () => {
  const refs = [
    ['a', 'dog', 'runs', 'on', 'the', 'grass'],
    ['a', 'dog', 'is', 'running'],
  ];
  const clip = maxReferenceCounts(refs);
  const lengths = refs.map((r) => r.length);
  // An exact reference: every precision 1, no penalty.
  close(sentenceBleu(refs[0], clip, lengths), 1, 1e-12);
  // "a dog runs": 3/3 unigrams, 2-grams (2+1)/(2+1), 3-grams (1+1)/(1+1), 4-grams (0+1)/(0+1) → 1,
  // closest reference 4 words → BP exp(1 − 4/3).
  close(sentenceBleu(['a', 'dog', 'runs'], clip, lengths), Math.exp(1 - 4 / 3), 1e-12);
  // "a cat runs on": unigrams 3/4; 2-grams (1+1)/(3+1) ("runs on"); 3-grams (0+1)/(2+1); 4-grams
  // (0+1)/(1+1); 4 words, closest length 4: no penalty.
  const expected = Math.exp((Math.log(3 / 4) + Math.log(2 / 4) + Math.log(1 / 3) + Math.log(1 / 2)) / 4);
  close(sentenceBleu(['a', 'cat', 'runs', 'on'], clip, lengths), expected, 1e-12);
  // No unigram in common (or nothing at all): 0, whatever the smoothing.
  assert.equal(sentenceBleu(['x', 'y'], clip, lengths), 0);
  assert.equal(sentenceBleu([], clip, lengths), 0);
});
