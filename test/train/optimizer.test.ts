import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initTf, tf } from '../../src/model/tf-backend.js';
import { FlatAdam } from '../../src/train/optimizer.js';
import { Rng } from '../../src/util/random.js';

const random = (n: number, rng: Rng, scale = 1) =>
  Float32Array.from({ length: n }, () => scale * rng.normal());

test('Adam over one flat vector, or over slices of it, equals per-tensor Adam bit for bit', async () => {
  await initTf();
  const rng = new Rng(5);
  const shapes = [[7, 3], [3], [5, 11]];
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const init = random(total, rng);
  const steps = Array.from({ length: 5 }, () => random(total, rng, 0.1));

  // Reference: the library's Adam on one variable per tensor.
  const reference = tf.train.adam(1e-2, 0.9, 0.999, 1e-7);
  let offset = 0;
  const variables = shapes.map((shape, i) => {
    const v = tf.variable(tf.tensor(init.slice(offset, offset + sizes[i]), shape), true, `ref/${i}`);
    offset += sizes[i];
    return v;
  });
  for (const g of steps) {
    let o = 0;
    reference.applyGradients(
      shapes.map((shape, i) => {
        const t = { name: `ref/${i}`, tensor: tf.tensor(g.slice(o, o + sizes[i]), shape) };
        o += sizes[i];
        return t;
      }),
    );
  }
  const expected = new Float32Array(total);
  offset = 0;
  variables.forEach((v, i) => {
    expected.set(v.dataSync() as Float32Array, offset);
    offset += sizes[i];
  });

  const flat = init.slice();
  const whole = new FlatAdam(flat, 1e-2);
  for (const g of steps) whole.step(g);
  assert.deepEqual(flat, expected);

  // In chunks of 4 floats (each its own variable and optimizer), as large runs are stepped.
  const chunked = init.slice();
  const inChunks = new FlatAdam(chunked, 1e-2, 4);
  for (const g of steps) inChunks.step(g);
  assert.deepEqual(chunked, expected);

  // Two shares, as two workers hold them.
  const split = init.slice();
  const cut = 13;
  const parts = [new FlatAdam(split.subarray(0, cut), 1e-2), new FlatAdam(split.subarray(cut), 1e-2)];
  for (const g of steps) {
    parts[0].step(g.subarray(0, cut));
    parts[1].step(g.subarray(cut));
  }
  assert.deepEqual(split, expected);

  // State round trip, across chunkings: a fresh optimizer continues exactly.
  const state = await whole.getState();
  assert.deepEqual(await inChunks.getState(), state);
  const again = flat.slice();
  const copy = new FlatAdam(again, 1e-2, 5);
  await copy.setState(state);
  const more = random(total, rng, 0.1);
  whole.step(more);
  copy.step(more);
  assert.deepEqual(again, flat);
  for (const o of [whole, inChunks, copy, ...parts]) o.dispose();
});
