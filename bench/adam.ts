/**
 * npx tsx bench/adam.ts [-- --steps 60 --warmup 10 --weights 2300000]
 * (on a shared machine: flock /tmp/captioner-bench.lock npx tsx bench/adam.ts)
 *
 * The Adam update of FlatAdam, ms per step, over 2.3M weights in 10 segments like the merge model's
 * tensors (odd sizes, so offsets are not multiples of 4), each gradient its own array as
 * onnxruntime returns them:
 *   js        the plain JS loop (float64, scalar)
 *   wasm-copy the SIMD kernel, weights in an ordinary array (copied in and out by chunks)
 *   wasm      the SIMD kernel, weights in the kernel's memory (FlatAdam.params): gradients copied in
 *   wasm-zero the SIMD kernel, weights and gradients in the kernel's memory (FlatAdam.params, .grads),
 *             as when onnxruntime writes the gradients there (pre-allocated outputs): no copy at all
 * Variants alternate step by step so that load from others on the machine hits all alike.
 */
import { parseArgs } from 'node:util';
import { FlatAdam } from '../src/train/adam.js';
import { Rng } from '../src/util/random.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '10' },
    weights: { type: 'string', default: '2300000' },
  },
});
const total = Number(args.weights);

// Shares of a merge model: embedding, LSTM kernels and biases, the merge and output layers.
const shares = [0.2, 0.0004, 0.17, 0.17, 0.0007, 0.06, 0.0003, 0.12, 0.0009, 0.2777];
const sizes = shares.map((s) => Math.max(1, Math.round(s * total)) | 1);
sizes[sizes.length - 1] += total - sizes.reduce((a, b) => a + b, 0);
const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));

const rng = new Rng(1);
const grads = sizes.map((n) => Float32Array.from({ length: n }, () => 1e-3 * rng.normal()));
const init = Float32Array.from({ length: total }, () => 0.05 * rng.normal());

interface Variant {
  name: string;
  adam: FlatAdam;
  params: Float32Array;
  grads: Float32Array[];
  times: number[];
}

function variant(name: string, simd: boolean, inPlace: boolean, gradsInside = false): Variant {
  const adam = new FlatAdam(total, { simd });
  const params = inPlace ? adam.params : new Float32Array(total);
  params.set(init);
  const g = gradsInside ? grads.map((x, i) => adam.grads.subarray(offsets[i], offsets[i] + x.length)) : grads;
  g.forEach((x, i) => x.set(grads[i]));
  return { name, adam, params, grads: g, times: [] };
}

const variants = [
  variant('js', false, false),
  variant('wasm-copy', true, false),
  variant('wasm', true, true),
  variant('wasm-zero', true, true, true),
];
if (!variants[1].adam.simd) console.log('WebAssembly SIMD unavailable: the wasm rows run the JS loop');

function step({ adam, params, grads }: Variant): number {
  const t0 = performance.now();
  grads.forEach((g, i) => adam.update(params, offsets[i], g, 0.5, 1e-3));
  adam.finishStep();
  return performance.now() - t0;
}

const warmup = Number(args.warmup);
const steps = Number(args.steps);
for (let s = 0; s < warmup + steps; s++)
  for (const v of variants) {
    const ms = step(v);
    if (s >= warmup) v.times.push(ms);
  }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const js = median(variants[0].times);
console.log(`${total} weights in ${sizes.length} segments (${sizes.join(', ')}), ${steps} steps`);
console.log('variant     median ms  mean ms  min ms  ns/weight  speed-up (median)');
for (const { name, times } of variants) {
  const med = median(times);
  console.log(
    [
      name.padEnd(10),
      med.toFixed(2).padStart(10),
      mean(times).toFixed(2).padStart(8),
      Math.min(...times)
        .toFixed(2)
        .padStart(7),
      ((med * 1e6) / total).toFixed(2).padStart(10),
      `${(js / med).toFixed(1)}×`.padStart(8),
    ].join(' '),
  );
}
// The weights agree across variants to float32 rounding (a sanity check, not a test).
let drift = 0;
variants[2].params.forEach((p, i) => (drift = Math.max(drift, Math.abs(p - variants[0].params[i]))));
console.log(`largest |wasm − js| weight difference after ${warmup + steps} steps: ${drift.toExponential(2)}`);
