import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlatAdam, adamReference } from '../../src/train/adam.js';
import { simdAvailable } from '../../src/train/adam-kernel.js';
import { Rng } from '../../src/util/random.js';

const random = (n: number, rng: Rng, scale = 1) =>
  Float32Array.from({ length: n }, () => scale * rng.normal());

/**
 * How far float32 arithmetic may stray from the float64 reference. Cancellation in β1·m + (1−β1)·g
 * (terms of either sign) makes the relative error of m unbounded, so errors are measured against the
 * same recurrences over magnitudes: |m| ≤ mag.m with m's rounding errors ≲ t·u·mag.m after t steps,
 * v's relative (no cancellation), and each weight's against the sum of its step magnitudes.
 */
class Magnitudes {
  readonly m: Float64Array;
  readonly v: Float64Array;
  readonly moved: Float64Array;
  constructor(m0: Float32Array, v0: Float32Array) {
    this.m = Float64Array.from(m0, Math.abs);
    this.v = Float64Array.from(v0);
    this.moved = new Float64Array(m0.length);
  }
  update(offset: number, grad: Float32Array, scale: number, stepSize: number, epsilon: number) {
    for (let i = 0, j = offset; i < grad.length; i++, j++) {
      const g = Math.abs(grad[i] * scale);
      this.m[j] = 0.9 * this.m[j] + 0.1 * g;
      this.v[j] = 0.999 * this.v[j] + 0.001 * g * g;
      this.moved[j] += (stepSize * this.m[j]) / (Math.sqrt(this.v[j]) + epsilon);
    }
  }
}

/** stepSize and ε·√c2 as FlatAdam folds them, for iterations so far with β1ᵗ, β2ᵗ. */
function folded(accBeta1: number, accBeta2: number, lr: number) {
  const c2Root = Math.sqrt(1 - accBeta2);
  return { stepSize: (lr * c2Root) / (1 - accBeta1), epsilon: 1e-7 * c2Root };
}

const TOLERANCE = 1e-5; // ~80 float32 ulps of the magnitudes: far below what a wrong formula gives

/** Kernel results against the reference: m, v, and the weights (with `init` the weights before). */
function assertClose(
  adam: { m: Float32Array; v: Float32Array },
  params: Float32Array,
  ref: { m: Float32Array; v: Float32Array },
  refParams: Float32Array,
  mag: Magnitudes,
) {
  const check = (what: string, i: number, a: number, b: number, bound: number) => {
    if (!(Math.abs(a - b) <= bound)) assert.fail(`${what}[${i}]: ${a} vs ${b} (bound ${bound})`);
  };
  for (let i = 0; i < params.length; i++) {
    check('m', i, adam.m[i], ref.m[i], TOLERANCE * mag.m[i]);
    check('v', i, adam.v[i], ref.v[i], TOLERANCE * mag.v[i]);
    // Each step rounds the weight to float32 (an ulp, 2⁻²³ relative, at most) plus its step's error.
    check('params', i, params[i], refParams[i], 2 ** -20 * Math.abs(refParams[i]) + TOLERANCE * mag.moved[i]);
  }
}

/** Weights in segments of awkward sizes and offsets (not multiples of 4; one longer than a copy chunk). */
const SEGMENTS = [1, 2, 3, 5, 7, 4, 13, 16, 17, 40000, 31, 6];
const TOTAL = SEGMENTS.reduce((a, b) => a + b, 0);
const LR = 1e-3;
const scaleOf = (k: number) => (k % 2 ? 0.25 : 1 / 3);

function run(adam: FlatAdam, params: Float32Array, steps: Float32Array[][], mag?: Magnitudes) {
  for (const grads of steps) {
    const { stepSize, epsilon } = folded(adam.accBeta1, adam.accBeta2, LR);
    let offset = 0;
    grads.forEach((g, k) => {
      adam.update(params, offset, g, scaleOf(k), LR);
      mag?.update(offset, g, scaleOf(k), stepSize, epsilon);
      offset += SEGMENTS[k];
    });
    adam.finishStep();
  }
}

function steps(rng: Rng, count: number): Float32Array[][] {
  // Gradients of very different sizes, zeros among them, as real models have.
  return Array.from({ length: count }, (_, s) =>
    SEGMENTS.map((n, k) => {
      const g = random(n, rng, 10 ** ((k % 5) - 3));
      if (s % 2) g.fill(0, 0, Math.min(n, 3));
      return g;
    }),
  );
}

test('the module the encoder writes is valid WebAssembly with SIMD (Node 20 has it)', () => {
  assert.ok(simdAvailable());
  assert.ok(new FlatAdam(10).simd);
  assert.ok(!new FlatAdam(10, { simd: false }).simd);
});

test('the SIMD kernel equals the JS loop up to float32 rounding, weights copied in or in place', () => {
  const rng = new Rng(11);
  const init = random(TOTAL, rng, 0.1);
  const grads = steps(rng, 6);

  const reference = new FlatAdam(TOTAL, { simd: false });
  const refParams = init.slice();
  const mag = new Magnitudes(new Float32Array(TOTAL), new Float32Array(TOTAL));
  run(reference, refParams, grads, mag);

  // Weights in an ordinary array (copied into the kernel's memory by chunks and back).
  const copied = new FlatAdam(TOTAL);
  const copiedParams = init.slice();
  run(copied, copiedParams, grads);

  // Weights in the kernel's own memory (updated in place).
  const inPlace = new FlatAdam(TOTAL);
  inPlace.params.set(init);
  run(inPlace, inPlace.params, grads);

  for (const [adam, params] of [
    [copied, copiedParams],
    [inPlace, inPlace.params],
  ] as const) {
    assert.ok(adam.simd);
    assert.equal(adam.iterations, reference.iterations);
    assert.equal(adam.accBeta1, reference.accBeta1);
    assert.equal(adam.accBeta2, reference.accBeta2);
    assertClose(adam, params, reference, refParams, mag);
  }
  // The weights did move (by up to lr a step), and the two kernel runs are the same arithmetic: same bits.
  assert.ok(Math.abs(refParams[20000] - init[20000]) > 1e-4);
  assert.deepEqual(copiedParams, inPlace.params);
  assert.deepEqual(copied.m, inPlace.m);
  assert.deepEqual(copied.v, inPlace.v);
});

test('each tail and offset: updates touch exactly [offset, offset + n) and match the JS loop', () => {
  const rng = new Rng(3);
  const size = 64;
  for (let offset = 0; offset < 8; offset++) {
    for (let n = 0; n <= 21; n++) {
      const init = random(size, rng);
      const m0 = random(size, rng, 0.01);
      const v0 = random(size, rng, 0.01).map(Math.abs);
      const g = random(n, rng);
      const simd = new FlatAdam(size);
      simd.params.set(init);
      simd.m.set(m0);
      simd.v.set(v0);
      simd.update(simd.params, offset, g, 0.5, 1e-2);
      const params = init.slice();
      const ref = { m: m0.slice(), v: v0.slice() };
      const mag = new Magnitudes(m0, v0);
      const { stepSize, epsilon } = folded(0.9, 0.999, 1e-2);
      adamReference(params, offset, g, ref.m, ref.v, 0.5, stepSize, epsilon);
      mag.update(offset, g, 0.5, stepSize, epsilon);
      for (let i = 0; i < size; i++) {
        if (i < offset || i >= offset + n) {
          assert.equal(simd.params[i], init[i], `params[${i}] untouched (offset ${offset}, n ${n})`);
          assert.equal(simd.m[i], m0[i]);
          assert.equal(simd.v[i], v0[i]);
        }
      }
      assertClose(simd, simd.params, ref, params, mag);
    }
  }
});

test('a gradient already in the kernel memory is read in place; sub-views of params work', () => {
  const rng = new Rng(8);
  const size = 1000;
  const adam = new FlatAdam(size);
  const ref = new FlatAdam(size, { simd: false });
  const init = random(size, rng);
  adam.params.set(init);
  const refParams = init.slice();
  const mag = new Magnitudes(new Float32Array(size), new Float32Array(size));
  // The gradient placed in the unused top of the params run: a view of the kernel's memory.
  const g = random(300, rng);
  const inside = adam.params.subarray(700, 1000);
  inside.set(g);
  adam.update(adam.params.subarray(0, 600), 101, inside.subarray(0, 299), 2, 1e-3);
  ref.update(refParams, 101, g.subarray(0, 299), 2, 1e-3);
  const { stepSize, epsilon } = folded(0.9, 0.999, 1e-3);
  mag.update(101, g.subarray(0, 299), 2, stepSize, epsilon);
  assertClose(adam, adam.params.subarray(0, 700), ref, refParams.subarray(0, 700), mag);
  assert.ok(Math.abs(refParams[200] - init[200]) > 1e-4);
});

test('out-of-range updates throw instead of writing past the moments', () => {
  const adam = new FlatAdam(10);
  assert.throws(() => adam.update(adam.params, 8, new Float32Array(3), 1, 1e-3), RangeError);
  assert.throws(() => adam.update(new Float32Array(5), 4, new Float32Array(3), 1, 1e-3), RangeError);
});

test('state round trip: getState copies out of the kernel memory, setState copies in', () => {
  const rng = new Rng(2);
  const a = new FlatAdam(50);
  run1(a, rng);
  const state = a.getState();
  assert.notEqual(state.m.buffer, a.m.buffer);
  const b = new FlatAdam(50);
  b.setState(state);
  assert.deepEqual([b.iterations, b.accBeta1, b.accBeta2], [a.iterations, a.accBeta1, a.accBeta2]);
  assert.deepEqual(b.m, a.m);
  assert.deepEqual(b.v, a.v);
  // Same state, same gradient: same bits.
  const g = random(50, rng);
  const [pa, pb] = [new Float32Array(50), new Float32Array(50)];
  a.update(pa, 0, g, 1, 1e-3);
  b.update(pb, 0, g, 1, 1e-3);
  assert.deepEqual(pa, pb);
  assert.throws(() => new FlatAdam(49).setState(state));
});

function run1(adam: FlatAdam, rng: Rng) {
  for (let s = 0; s < 3; s++) {
    adam.update(adam.params, 0, random(adam.size, rng), 1, 1e-3);
    adam.finishStep();
  }
}
