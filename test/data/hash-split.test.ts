import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashSplit, hashUnit, parseSplitRatio, parseSplitSizes } from '../../src/data/hash-split.js';
import type { Split } from '../../src/data/splits.js';

const names = (n: number, prefix = 'photo') =>
  Array.from({ length: n }, (_, i) => `${prefix}_${String(i).padStart(4, '0')}.jpg`);
const counts = (splitOf: Map<string, Split>) => {
  const c = { train: 0, dev: 0, test: 0 };
  for (const s of splitOf.values()) c[s]++;
  return c;
};

test('the hash of a name is fixed and spread over [0, 1)', () => {
  assert.equal(hashUnit('a.jpg'), hashUnit('a.jpg'));
  const units = names(2000).map(hashUnit);
  assert.ok(units.every((u) => u >= 0 && u < 1));
  const low = units.filter((u) => u < 0.5).length;
  assert.ok(low > 900 && low < 1100, `${low} of 2000 below 0.5`);
});

test('0.8/0.1/0.1 by default: near the shares, the same on every run, in any order', () => {
  const images = names(600);
  const a = hashSplit(images, {}).splitOf;
  const c = counts(a);
  assert.ok(c.train >= 0.7 * 600 && c.dev > 0 && c.test > 0, JSON.stringify(c));
  const b = hashSplit([...images].reverse(), {}).splitOf;
  for (const image of images) assert.equal(b.get(image), a.get(image));
});

test('adding or removing images never moves another one', () => {
  const images = names(500);
  const before = hashSplit(images, { ratio: [0.7, 0.15, 0.15] }).splitOf;
  const grown = hashSplit([...images.slice(100), ...names(300, 'new')], { ratio: [0.7, 0.15, 0.15] }).splitOf;
  for (const image of images.slice(100)) assert.equal(grown.get(image), before.get(image));
});

test('a small set still gets every part', () => {
  for (const n of [3, 5, 8, 12, 20]) {
    const c = counts(hashSplit(names(n, `small${n}`), {}).splitOf);
    assert.ok(c.train > 0 && c.dev > 0 && c.test > 0, `${n} images: ${JSON.stringify(c)}`);
    assert.ok(c.train >= c.dev && c.train >= c.test, `${n} images: ${JSON.stringify(c)}`);
  }
  // A part with no share stays empty.
  assert.equal(counts(hashSplit(names(10), { ratio: [0.9, 0.1, 0] }).splitOf).test, 0);
});

test('sizes: exact counts, "rest" for train, the highest hashes to test', () => {
  const images = names(100);
  const { splitOf, unused } = hashSplit(images, { sizes: [50, 10, 20] });
  assert.deepEqual(counts(splitOf), { train: 50, dev: 10, test: 20 });
  assert.equal(unused.length, 20);
  const rest = hashSplit(images, { sizes: ['rest', 10, 20] }).splitOf;
  assert.deepEqual(counts(rest), { train: 70, dev: 10, test: 20 });
  const minTest = Math.min(...images.filter((i) => rest.get(i) === 'test').map(hashUnit));
  assert.ok(images.filter((i) => rest.get(i) !== 'test').every((i) => hashUnit(i) < minTest));
  assert.throws(() => hashSplit(images, { sizes: [90, 10, 20] }), /needs 120 images, there are 100/);
});

test('the command-line forms', () => {
  assert.deepEqual(parseSplitRatio('0.8,0.1,0.1'), [0.8, 0.1, 0.1]);
  assert.deepEqual(parseSplitRatio('8, 1, 1'), [0.8, 0.1, 0.1]);
  assert.throws(() => parseSplitRatio('0.8,0.2'), /three shares/);
  assert.throws(() => parseSplitRatio('0,1,1'), /train's above 0/);
  assert.throws(() => parseSplitRatio('a,b,c'), /three shares/);
  assert.deepEqual(parseSplitSizes('6000,1000,1000'), [6000, 1000, 1000]);
  assert.deepEqual(parseSplitSizes('rest,1000,1000'), ['rest', 1000, 1000]);
  assert.throws(() => parseSplitSizes('6000,1000'), /three image counts/);
  assert.throws(() => parseSplitSizes('1.5,1,1'), /three image counts/);
});
