import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeptArray } from '../../src/util/kept-array.js';

test('a kept array is lent again once given back, never to two users at once', () => {
  const kept = new KeptArray(Float32Array);
  const a = kept.take(1000);
  assert.equal(a.length, 1000);
  const b = kept.take(1000);
  assert.notEqual(a.buffer, b.buffer, 'a is lent out: b is new');
  kept.give(a);
  const c = kept.take(600);
  assert.equal(c.buffer, a.buffer, 'a smaller request gets the kept one');
  assert.equal(c.length, 600);
  const d = kept.take(600);
  assert.notEqual(d.buffer, a.buffer, 'one array kept (the default): lent out again, so d is new');
  kept.give(c);
  assert.notEqual(kept.take(2000).buffer, a.buffer, 'too small for 2000');
});

test('up to `keep` arrays are kept, the biggest', () => {
  const kept = new KeptArray(Uint8ClampedArray, 2);
  const [small, middle, big] = [kept.take(10), kept.take(20), kept.take(30)];
  kept.give(small);
  kept.give(big);
  kept.give(middle);
  kept.give(middle); // twice: kept once
  const first = kept.take(5);
  const second = kept.take(5);
  assert.deepEqual([first.buffer, second.buffer], [big.buffer, middle.buffer]);
  assert.notEqual(kept.take(5).buffer, small.buffer);
});
