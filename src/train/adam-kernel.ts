/**
 * The Adam update as a WebAssembly SIMD kernel (four float32 lanes per instruction), its module bytes
 * written by our small encoder (`util/wasm-binary.ts`) rather than shipped as a binary.
 *
 * Why: V8 compiles a typed-array loop to scalar float64 code (it does not vectorize), about 5–13 ns per
 * weight for Adam; the same pass in f32x4 is bound by memory bandwidth instead.
 *
 * The module imports its memory (`env.memory`, sized by the caller, never grown, so views into it stay
 * valid) and exports one function:
 *
 *   adam(p, m, v, g, n, scale, stepSize, epsilon)
 *
 * over `n` float32 values at byte addresses `p` (weights), `m`, `v` (moments) and `g` (gradient, read
 * only): per weight
 *
 *   g' = g·scale;  m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'·g';  p −= stepSize·m / (√v + epsilon)
 *
 * n & ~3 weights four at a time, then the last n & 3 one at a time with the scalar f32 instructions.
 * Addresses need no alignment (v128.load/store accept any address; x86 and ARM load unaligned vectors
 * at full speed within a cache line).
 */

import {
  F32,
  I32,
  V128,
  instantiate,
  lazyModule,
  moduleBytes,
  op,
  v128,
  type Bytes,
} from '../util/wasm-binary.js';

const v128Load = v128.load();
const v128Store = v128.store();
const { f32x4Splat, f32x4Sqrt, f32x4Add, f32x4Sub, f32x4Mul, f32x4Div } = v128;

// ---- The kernel. ----

export const BETA1 = 0.9;
export const BETA2 = 0.999;

// Locals: the parameters first, then what the function declares.
const P = 0, M = 1, V = 2, G = 3, N = 4, SCALE = 5, STEP = 6, EPS = 7; // prettier-ignore
const END = 8; // i32: where the current loop stops (as an address in p)
// v128: the splatted constants, then the per-lane temporaries.
const [SCALE4, STEP4, EPS4, B1, C1, B2, C2, G4, M4, V4] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
const [G1, M1, V1] = [19, 20, 21]; // f32 temporaries of the tail

/** The instructions of one lane width: f32x4 with constants in locals, or plain f32. */
interface Lanes {
  load: Bytes;
  store: Bytes;
  add: Bytes;
  sub: Bytes;
  mul: Bytes;
  div: Bytes;
  sqrt: Bytes;
  bytes: number;
  scale: Bytes;
  step: Bytes;
  eps: Bytes;
  b1: Bytes;
  c1: Bytes;
  b2: Bytes;
  c2: Bytes;
  g: number;
  m: number;
  v: number;
}

const vector: Lanes = {
  load: v128Load,
  store: v128Store,
  add: f32x4Add,
  sub: f32x4Sub,
  mul: f32x4Mul,
  div: f32x4Div,
  sqrt: f32x4Sqrt,
  bytes: 16,
  scale: op.get(SCALE4),
  step: op.get(STEP4),
  eps: op.get(EPS4),
  b1: op.get(B1),
  c1: op.get(C1),
  b2: op.get(B2),
  c2: op.get(C2),
  g: G4,
  m: M4,
  v: V4,
};

const scalar: Lanes = {
  load: op.f32Load,
  store: op.f32Store,
  add: op.f32Add,
  sub: op.f32Sub,
  mul: op.f32Mul,
  div: op.f32Div,
  sqrt: op.f32Sqrt,
  bytes: 4,
  scale: op.get(SCALE),
  step: op.get(STEP),
  eps: op.get(EPS),
  b1: op.f32(BETA1),
  c1: op.f32(1 - BETA1),
  b2: op.f32(BETA2),
  c2: op.f32(1 - BETA2),
  g: G1,
  m: M1,
  v: V1,
};

/** `while (p < end) { update at p, m, v, g; advance all four }`, in lanes of `l`. */
function updateLoop(l: Lanes): Bytes {
  const advance = (ptr: number) => [...op.get(ptr), ...op.i32(l.bytes), ...op.i32Add, ...op.set(ptr)];
  return [
    ...op.block,
    ...op.loop,
    ...[...op.get(P), ...op.get(END), ...op.i32GeU, ...op.brIf(1)],
    // g' = g·scale
    ...[...op.get(G), ...l.load, ...l.scale, ...l.mul, ...op.set(l.g)],
    // m = β1·m + (1−β1)·g'
    ...[...op.get(M), ...op.get(M), ...l.load, ...l.b1, ...l.mul],
    ...[...l.c1, ...op.get(l.g), ...l.mul, ...l.add, ...op.tee(l.m), ...l.store],
    // v = β2·v + (1−β2)·g'·g'
    ...[...op.get(V), ...op.get(V), ...l.load, ...l.b2, ...l.mul],
    ...[...l.c2, ...op.get(l.g), ...l.mul, ...op.get(l.g), ...l.mul, ...l.add, ...op.tee(l.v), ...l.store],
    // p −= stepSize·m / (√v + ε)
    ...[...op.get(P), ...op.get(P), ...l.load, ...l.step, ...op.get(l.m), ...l.mul],
    ...[...op.get(l.v), ...l.sqrt, ...l.eps, ...l.add, ...l.div, ...l.sub, ...l.store],
    ...[...advance(P), ...advance(M), ...advance(V), ...advance(G)],
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** `end = p + ((n & mask) << 2)`: the address in p where the loop over those weights stops. */
const setEnd = (mask: number): Bytes => [
  ...[...op.get(P), ...op.get(N), ...op.i32(mask), ...op.i32And, ...op.i32(2), ...op.i32Shl, ...op.i32Add],
  ...op.set(END),
];

const splat = (value: Bytes, local: number): Bytes => [...value, ...f32x4Splat, ...op.set(local)];

/** The module's bytes: one function, `adam`, over the imported memory. */
export function adamModuleBytes(): Uint8Array<ArrayBuffer> {
  const code = [
    ...[...splat(op.get(SCALE), SCALE4), ...splat(op.get(STEP), STEP4), ...splat(op.get(EPS), EPS4)],
    ...[...splat(op.f32(BETA1), B1), ...splat(op.f32(1 - BETA1), C1)],
    ...[...splat(op.f32(BETA2), B2), ...splat(op.f32(1 - BETA2), C2)],
    ...setEnd(-4),
    ...updateLoop(vector),
    // The tail starts where the vector loop stopped (p advanced past it).
    ...setEnd(3),
    ...updateLoop(scalar),
  ];
  return moduleBytes([
    {
      name: 'adam',
      params: [I32, I32, I32, I32, I32, F32, F32, F32],
      locals: [
        [1, I32],
        [10, V128],
        [3, F32],
      ],
      code,
    },
  ]);
}

export type AdamKernelFunction = (
  p: number,
  m: number,
  v: number,
  g: number,
  n: number,
  scale: number,
  stepSize: number,
  epsilon: number,
) => void;

const adamModule = lazyModule(adamModuleBytes);

/** Whether this runtime has WebAssembly with SIMD (Node ≥ 16.4, current browsers). */
export function simdAvailable(): boolean {
  return adamModule() !== null;
}

/**
 * A kernel with a memory of its own of at least `bytes` bytes (never grown, so views of `memory` stay
 * valid), or null without WebAssembly SIMD or if the runtime refuses that much memory.
 */
export function createAdamKernel(bytes: number): { memory: ArrayBuffer; adam: AdamKernelFunction } | null {
  const module = adamModule();
  const instance = module && instantiate(module, bytes);
  if (!instance) return null;
  return { memory: instance.memory.buffer, adam: instance.exports.adam as AdamKernelFunction };
}
