/**
 * The consensus index's search as a WebAssembly SIMD kernel: the int8 dot products of one query with
 * every indexed vector, sixteen bytes per load. In a plain JS loop the 6,000 × 1,280 products of
 * Flickr8k's index take ~9 ms a photo (V8 does not vectorize); this kernel is bound by reading the
 * 7.7 MB of the index. Integers throughout, so the SIMD kernel and the JS loop (where WebAssembly SIMD
 * is missing) give the same sums, in Node and in the browser alike.
 *
 *   dots(index, query, out, rows, dim)
 *
 * `rows` vectors of `dim` int8 values (dim a multiple of 16) at byte address `index`, the query's `dim`
 * int8 values at `query`; row r's four partial sums (int32) are written at out + 16·r, and the caller
 * adds them. |sum| ≤ dim · 127² stays far inside int32 for any feature width up to 130,000.
 */

import {
  countedLoop,
  I32,
  V128,
  instantiate,
  lazyModule,
  moduleBytes,
  op,
  v128,
  type WasmMemory,
} from '../util/wasm-binary.js';

const INDEX = 0, QUERY = 1, OUT = 2, ROWS = 3, DIM = 4; // prettier-ignore
const R = 5,
  D = 6,
  ROW = 7; // i32 locals: row counter, byte in the row, the row's address
const ACC = 8,
  A = 9,
  Q = 10; // v128 locals

function dotsFunction() {
  const load = v128.load();
  const { i16x8ExtendLowI8x16S: low, i16x8ExtendHighI8x16S: high, i32x4DotI16x8S: dot, i32x4Add: add } = v128;
  const inner = [
    ...[...op.get(ROW), ...op.get(D), ...op.i32Add, ...load, ...op.set(A)],
    ...[...op.get(QUERY), ...op.get(D), ...op.i32Add, ...load, ...op.set(Q)],
    ...[...op.get(ACC), ...op.get(A), ...low, ...op.get(Q), ...low, ...dot, ...add],
    ...[...op.get(A), ...high, ...op.get(Q), ...high, ...dot, ...add, ...op.set(ACC)],
  ];
  const outer = [
    ...[...op.i32(0), ...v128.i32x4Splat, ...op.set(ACC), ...op.i32(0), ...op.set(D)],
    ...countedLoop(D, DIM, 16, inner),
    // out[16·r] = acc
    ...[
      ...op.get(OUT),
      ...op.get(R),
      ...op.i32(4),
      ...op.i32Shl,
      ...op.i32Add,
      ...op.get(ACC),
      ...v128.store(),
    ],
    ...[...op.get(ROW), ...op.get(DIM), ...op.i32Add, ...op.set(ROW)],
  ];
  return {
    name: 'dots',
    params: [I32, I32, I32, I32, I32],
    locals: [
      [3, I32],
      [3, V128],
    ] as [number, number][],
    code: [...op.get(INDEX), ...op.set(ROW), ...op.i32(0), ...op.set(R), ...countedLoop(R, ROWS, 1, outer)],
  };
}

const compiled = lazyModule(() => moduleBytes([dotsFunction()]));

/** The index's vectors, ready to be searched: in a wasm memory of their own where SIMD is there. */
export class Int8Dots {
  private readonly wasm?: {
    memory: WasmMemory;
    dots: (index: number, query: number, out: number, rows: number, dim: number) => void;
    queryAt: number;
    outAt: number;
  };

  constructor(
    private readonly vectors: Int8Array,
    private readonly rows: number,
    private readonly dim: number,
    options: { simd?: boolean } = {},
  ) {
    const module = options.simd === false || dim % 16 !== 0 ? null : compiled();
    if (!module) return;
    const queryAt = vectors.length;
    const outAt = Math.ceil((queryAt + dim) / 16) * 16;
    const instance = instantiate(module, outAt + rows * 16);
    if (!instance) return;
    new Int8Array(instance.memory.buffer, 0, vectors.length).set(vectors);
    this.wasm = { memory: instance.memory, dots: instance.exports.dots as never, queryAt, outAt };
  }

  /** Whether the SIMD kernel runs (else the JS loop). */
  get simd(): boolean {
    return this.wasm !== undefined;
  }

  /** Each row's dot product with the int8 query. */
  dots(query: Int8Array): Int32Array {
    const { rows, dim } = this;
    const out = new Int32Array(rows);
    if (this.wasm) {
      const { memory, dots, queryAt, outAt } = this.wasm;
      new Int8Array(memory.buffer, queryAt, dim).set(query);
      dots(0, queryAt, outAt, rows, dim);
      const partial = new Int32Array(memory.buffer, outAt, rows * 4);
      for (let r = 0; r < rows; r++)
        out[r] = partial[4 * r] + partial[4 * r + 1] + partial[4 * r + 2] + partial[4 * r + 3];
      return out;
    }
    const v = this.vectors;
    for (let r = 0, at = 0; r < rows; r++, at += dim) {
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += v[at + d] * query[d];
      out[r] = sum;
    }
    return out;
  }
}
