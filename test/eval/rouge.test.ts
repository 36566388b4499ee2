import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lcsLength, rougeL } from '../../src/eval/rouge.js';

const words = (s: string) => s.split(' ').filter((w) => w.length > 0);
const close = (actual: number, expected: number, eps = 1e-6) =>
  assert.ok(Math.abs(actual - expected) < eps, `${actual} is not ${expected} ± ${eps}`);

test('longest common subsequence', () => {
  assert.equal(lcsLength([...'abcbdab'], [...'bdcaba']), 4);
  assert.equal(lcsLength(words('a dog runs'), words('a cat sleeps')), 1);
  assert.equal(lcsLength([], words('a b')), 0);
});

test('ROUGE-L on a known LCS, β = 1.2', () => {
  // LCS("a dog runs on grass", "a brown dog runs fast on the grass") = a dog runs on grass = 5.
  // P = 5/5 = 1, R = 5/8 = 0.625; F = (1 + 1.44)·1·0.625 / (0.625 + 1.44·1) = 1.525 / 2.065 = 0.738499.
  close(rougeL(words('a dog runs on grass'), [words('a brown dog runs fast on the grass')]), 0.738499);
});

test('precision and recall are maxima over references, possibly from different ones (as coco)', () => {
  // Against "a dog": LCS 2, P = 2/5, R = 2/2 = 1. Best P = 1 (first ref), best R = 1 (second): F = 1.
  const score = rougeL(words('a dog runs on grass'), [
    words('a brown dog runs fast on the grass'),
    words('a dog'),
  ]);
  close(score, 1);
});

test('no common word, or an empty caption, scores 0', () => {
  assert.equal(rougeL(words('a b'), [words('c d')]), 0);
  assert.equal(rougeL([], [words('c d')]), 0);
});
