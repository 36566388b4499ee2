/**
 * A tiny WebAssembly binary encoder: just what our hand-written SIMD kernels need (Adam in training,
 * the Lanczos resampler in the browser, the consensus index's int8 dot products). Their module bytes are written by these few lines rather
 * than shipped as binaries: no build step, and the kernels' instructions stay readable where they are
 * defined.
 *
 * A kernel module imports one memory (`env.memory`) and exports functions of i32/f32 parameters.
 */

export type Bytes = number[];

/** Unsigned LEB128 (sizes, indices, SIMD opcodes ≥ 0x80). */
export function u32(n: number): Bytes {
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
export function s32(n: number): Bytes {
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
export const vec = (items: Bytes[]): Bytes => [...u32(items.length), ...items.flat()];
/** A name: its UTF-8 bytes as a vector. */
const name = (s: string): Bytes => vec([...new TextEncoder().encode(s)].map((b) => [b]));
/** A section: id, byte size, contents. */
const section = (id: number, body: Bytes): Bytes => [id, ...u32(body.length), ...body];

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** memarg of a load or store: alignment hint (log2 bytes) and offset. */
const memarg = (alignLog2: number, offset = 0): Bytes => [alignLog2, ...u32(offset)];

/** Core instructions. */
export const op = {
  block: [0x02, 0x40], // block with no result
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...u32(depth)],
  brIf: (depth: number) => [0x0d, ...u32(depth)],
  select: [0x1b],
  get: (local: number) => [0x20, ...u32(local)],
  set: (local: number) => [0x21, ...u32(local)],
  tee: (local: number) => [0x22, ...u32(local)],
  i32: (n: number) => [0x41, ...s32(n)],
  i32LtU: [0x49],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Shl: [0x74],
  i32Load: (offset = 0) => [0x28, ...memarg(2, offset)],
  f32: (x: number) => [0x43, ...new Uint8Array(Float32Array.of(x).buffer)],
  // Float arrays guarantee 4-byte alignment.
  f32Load: [0x2a, ...memarg(2)],
  f32Store: [0x38, ...memarg(2)],
  f32Sqrt: [0x91],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
};

/** A SIMD instruction: the 0xFD prefix, a LEB128 opcode, its immediates. */
const simd = (code: number, ...immediates: number[]): Bytes => [0xfd, ...u32(code), ...immediates];

/**
 * SIMD instructions (opcodes of the WebAssembly 2.0 spec). Loads and stores accept any address: the
 * alignment hint is only a hint, and x86 and ARM load unaligned vectors at full speed within a line.
 */
export const v128 = {
  load: (offset = 0) => simd(0x00, ...memarg(0, offset)),
  /** 8 bytes, each zero-extended to a 16-bit lane. */
  load8x8U: (offset = 0) => simd(0x02, ...memarg(0, offset)),
  store: (offset = 0) => simd(0x0b, ...memarg(0, offset)),
  /** 4 bytes into lane 0 (as one i32), the other lanes zero. */
  load32Zero: (offset = 0) => simd(0x5c, ...memarg(0, offset)),
  /** Lane 0 as 4 bytes. */
  store32Lane0: (offset = 0) => simd(0x5a, ...memarg(0, offset), 0),
  i16x8Splat: simd(0x10),
  i32x4Splat: simd(0x11),
  f32x4Splat: simd(0x13),
  /** Signed 16-bit lanes → unsigned 8-bit, saturating (negatives to 0, over 255 to 255). */
  i8x16NarrowI16x8U: simd(0x66),
  /** Signed 32-bit lanes → signed 16-bit, saturating. */
  i16x8NarrowI32x4S: simd(0x85),
  /** Bytes 0–7 (low) or 8–15 (high), each sign-extended to a 16-bit lane. */
  i16x8ExtendLowI8x16S: simd(0x87),
  i16x8ExtendHighI8x16S: simd(0x88),
  i16x8ExtendLowI8x16U: simd(0x89),
  i32x4ExtendLowI16x8U: simd(0xa9),
  i32x4ShrS: simd(0xac),
  i32x4Add: simd(0xae),
  i32x4Mul: simd(0xb5),
  /** Pairs of 16-bit lanes multiplied and each pair's two products added: four 32-bit lanes. */
  i32x4DotI16x8S: simd(0xba),
  /** Lanes 0–3 (low) or 4–7 (high) of two i16x8, multiplied into 32-bit lanes. */
  i32x4ExtmulLowI16x8S: simd(0xbc),
  i32x4ExtmulHighI16x8S: simd(0xbd),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
};

/** One exported function: its parameter types, its extra locals ([count, type] runs), its code. */
export interface WasmFunction {
  name: string;
  params: number[];
  locals: [number, number][];
  code: Bytes;
}

/** A module importing `env.memory` and exporting `functions` (none returns a value). */
export function moduleBytes(functions: readonly WasmFunction[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec([])]);
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x00, 0x00]; // memory, limits: min 0, no max
  const bodies = functions.map((f) => {
    const body = [...vec(f.locals.map(([count, type]) => [...u32(count), type])), ...f.code, ...op.end];
    return [...u32(body.length), ...body];
  });
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec(types)), // types: one per function
    ...section(2, vec([memoryImport])), // imports
    ...section(3, vec(functions.map((_, i) => u32(i)))), // functions: function i has type i
    ...section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...u32(i)]))), // exports
    ...section(10, vec(bodies)), // code
  ];
  return new Uint8Array(bytes);
}

/** `while (counter < limit) { body; counter += step }` (counter and limit are i32 locals). */
export function countedLoop(counter: number, limit: number, step: number, body: Bytes): Bytes {
  return [
    ...op.block,
    ...op.loop,
    ...[...op.get(counter), ...op.get(limit), ...op.i32GeU, ...op.brIf(1)],
    ...body,
    ...[...op.get(counter), ...op.i32(step), ...op.i32Add, ...op.set(counter)],
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/**
 * The few members of the WebAssembly JS API used here: the project's `lib` (ES2023, no DOM) does not
 * declare them, though Node and browsers have them.
 */
interface WasmApi {
  validate(bytes: Uint8Array<ArrayBuffer>): boolean;
  Module: new (bytes: Uint8Array<ArrayBuffer>) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (limits: { initial: number; maximum?: number }) => WasmMemory;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  /** Adds pages (64 KiB each); earlier views of `buffer` are detached. */
  grow(pages: number): number;
}

const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/**
 * A lazily compiled kernel module: `compile()` gives the module, or null where WebAssembly SIMD is not
 * available (the caller then runs its plain JS loop).
 */
export function lazyModule(bytes: () => Uint8Array<ArrayBuffer>): () => object | null {
  let compiled: object | null | undefined;
  return () => {
    if (compiled === undefined) {
      const b = bytes();
      compiled = wasm?.validate(b) ? new wasm.Module(b) : null;
    }
    return compiled;
  };
}

/**
 * An instance of `module` with a memory of its own of `bytes` bytes (`maximum` pages: then it never
 * grows), or null if the runtime refuses that much memory.
 */
export function instantiate(
  module: object,
  bytes: number,
  growable = false,
): { memory: WasmMemory; exports: Record<string, unknown> } | null {
  if (!wasm) return null;
  const pages = Math.max(1, Math.ceil(bytes / 65536));
  let memory: WasmMemory;
  try {
    memory = new wasm.Memory(growable ? { initial: pages } : { initial: pages, maximum: pages });
  } catch {
    return null; // over 4 GiB or what the engine allows
  }
  return { memory, exports: new wasm.Instance(module, { env: { memory } }).exports };
}
