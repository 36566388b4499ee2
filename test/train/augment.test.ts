import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pickViews, type CaptionItem } from '../../src/train/batches.js';
import { mirrorPixels } from '../../src/vision/preprocess.js';

const items: CaptionItem[] = Array.from({ length: 1000 }, (_, i) => ({ image: i % 100, tokens: [4, 5] }));
const mirrored: CaptionItem[] = items.map((it) => ({ ...it, image: it.image + 100, tokens: [5, 4] }));

test('pickViews takes each caption or its mirrored counterpart, about half each, anew every epoch', () => {
  const a = pickViews(items, mirrored, 7, 0);
  assert.equal(a.length, items.length);
  a.forEach((it, i) => assert.ok(it === items[i] || it === mirrored[i], `item ${i} is one of its two views`));
  const flipped = a.filter((it, i) => it === mirrored[i]).length;
  assert.ok(flipped > 430 && flipped < 570, `${flipped} of 1000 mirrored`);
  assert.deepEqual(pickViews(items, mirrored, 7, 0), a, 'the same seed and epoch draw the same views');
  const b = pickViews(items, mirrored, 7, 1);
  assert.ok(
    b.some((it, i) => it !== a[i]),
    'the next epoch draws again',
  );
});

test('mirrorPixels swaps each row left to right, odd widths keep the middle column', () => {
  // 3 × 2 RGB: pixel values name their position.
  const rgb = Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
  mirrorPixels(rgb, 3, 2, 3);
  assert.deepEqual([...rgb], [3, 3, 3, 2, 2, 2, 1, 1, 1, 6, 6, 6, 5, 5, 5, 4, 4, 4]);
  const rgba = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  mirrorPixels(rgba, 2, 1, 4);
  assert.deepEqual([...rgba], [5, 6, 7, 8, 1, 2, 3, 4]);
});
