/**
 * The Adam update as a WebAssembly SIMD kernel (four float32 lanes per instruction), its module bytes
 * written here by a few lines of encoder rather than shipped as a binary: no build step, and the
 * instructions stay readable below.
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

// ---- A tiny WebAssembly binary encoder: just what the kernel needs. ----

type Bytes = number[];

/** Unsigned LEB128 (sizes, indices, SIMD opcodes ≥ 0x80). */
function u32(n: number): Bytes {
  const out: Bytes = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const). */
function s32(n: number): Bytes {
  const out: Bytes = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A vector: its length, then its items. */
const vec = (items: Bytes[]): Bytes => [...u32(items.length), ...items.flat()];
/** A name: its UTF-8 bytes as a vector. */
const name = (s: string): Bytes => vec([...new TextEncoder().encode(s)].map((b) => [b]));
/** A section: id, byte size, contents. */
const section = (id: number, body: Bytes): Bytes => [id, ...u32(body.length), ...body];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

/** Instructions (core opcodes; the SIMD ones carry the 0xFD prefix and a LEB128 opcode). */
const op = {
  block: [0x02, 0x40], // block with no result
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...u32(depth)],
  brIf: (depth: number) => [0x0d, ...u32(depth)],
  get: (local: number) => [0x20, ...u32(local)],
  set: (local: number) => [0x21, ...u32(local)],
  tee: (local: number) => [0x22, ...u32(local)],
  i32: (n: number) => [0x41, ...s32(n)],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32And: [0x71],
  i32Shl: [0x74],
  f32: (x: number) => [0x43, ...new Uint8Array(Float32Array.of(x).buffer)],
  // memarg: alignment hint (log2; 4 bytes, what float arrays guarantee) and offset 0.
  f32Load: [0x2a, 2, 0],
  f32Store: [0x38, 2, 0],
  f32Sqrt: [0x91],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  simd: (code: number, ...immediates: number[]) => [0xfd, ...u32(code), ...immediates],
};
const v128Load = op.simd(0x00, 2, 0);
const v128Store = op.simd(0x0b, 2, 0);
const f32x4Splat = op.simd(0x13);
const f32x4Sqrt = op.simd(0xe3);
const f32x4Add = op.simd(0xe4);
const f32x4Sub = op.simd(0xe5);
const f32x4Mul = op.simd(0xe6);
const f32x4Div = op.simd(0xe7);

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

function kernelBody(): Bytes {
  const locals = vec([
    [1, I32],
    [10, V128],
    [3, F32],
  ]);
  const code = [
    ...[...splat(op.get(SCALE), SCALE4), ...splat(op.get(STEP), STEP4), ...splat(op.get(EPS), EPS4)],
    ...[...splat(op.f32(BETA1), B1), ...splat(op.f32(1 - BETA1), C1)],
    ...[...splat(op.f32(BETA2), B2), ...splat(op.f32(1 - BETA2), C2)],
    ...setEnd(-4),
    ...updateLoop(vector),
    // The tail starts where the vector loop stopped (p advanced past it).
    ...setEnd(3),
    ...updateLoop(scalar),
    ...op.end,
  ];
  const body = [...locals, ...code];
  return [...u32(body.length), ...body];
}

/** The module's bytes: one type, the imported memory, one function, its export, its code. */
export function adamModuleBytes(): Uint8Array<ArrayBuffer> {
  const signature = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [F32], [F32]]), ...vec([])];
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, 0x00]; // memory, limits: min 0, no max
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec([signature])), // types
    ...section(2, vec([memoryImport])), // imports
    ...section(3, vec([u32(0)])), // functions: one, of type 0
    ...section(7, vec([[...name('adam'), 0x00, ...u32(0)]])), // exports: function 0 as "adam"
    ...section(10, vec([kernelBody()])), // code
  ];
  return new Uint8Array(bytes);
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

/**
 * The few members of the WebAssembly JS API used here: the project's `lib` (ES2023, no DOM) does not
 * declare them, though Node and browsers have them.
 */
interface WasmApi {
  validate(bytes: Uint8Array<ArrayBuffer>): boolean;
  Module: new (bytes: Uint8Array<ArrayBuffer>) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (limits: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let compiled: object | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is unavailable (then Adam runs in plain JS). */
function adamModule(): object | null {
  if (compiled === undefined) {
    const bytes = adamModuleBytes();
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

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
  if (!module || !wasm) return null;
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  let memory: { buffer: ArrayBuffer };
  try {
    memory = new wasm.Memory({ initial: pages, maximum: pages });
  } catch {
    return null; // over 4 GiB or what the engine allows
  }
  const instance = new wasm.Instance(module, { env: { memory } });
  return { memory: memory.buffer, adam: instance.exports.adam as AdamKernelFunction };
}
