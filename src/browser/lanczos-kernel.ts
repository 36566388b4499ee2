/**
 * The two passes of the browser's Lanczos-3 reduce (resample.ts) as WebAssembly SIMD kernels: the
 * same integer arithmetic (12-bit fixed-point weights times 8-bit pixels, summed in 32 bits from
 * 2^11, shifted right by 12, clamped to 0..255), so the bytes are identical to the JS loops'.
 *
 * Why: V8 runs the JS loops at about 0.5 G multiply-adds a second (scalar, bounds-checked); a 1-MP
 * JPEG costs ~15 ms there, as much as a third of the page's whole caption. Sixteen bytes per
 * instruction here.
 *
 * Both kernels read their tables and pixels from the imported memory:
 *
 *   rows(src, dst, n, out, table, points)
 *     out rows of n bytes: dst row o = Σᵢ weight · src bytes at (row offset), for the `points` taps of
 *     row o in `table` (per tap two i32: the source row's byte offset, the weight). Byte-wise, so any
 *     number of channels; n ≥ 16 (the last 16 bytes of a row are done once more, overlapping).
 *   columns(src, dst, rows, rowBytes, out, table, points)
 *     each of `rows` rows (rowBytes apart) → out pixels of 4 bytes: pixel o = Σᵢ weight · the 4 bytes
 *     at (byte offset) in the row, for its `points` taps in `table` (per tap one i32 byte offset, then
 *     the weight four times, 20 bytes). A 3-channel source reads one byte past each pixel: keep 4
 *     bytes after the source.
 */

import {
  I32,
  V128,
  countedLoop,
  instantiate,
  lazyModule,
  moduleBytes,
  op,
  v128,
  type Bytes,
  type WasmFunction,
  type WasmMemory,
} from '../util/wasm-binary.js';

const SHIFT = 12;
/** Bytes per tap in the tables. */
export const ROW_TAP_BYTES = 8;
export const COLUMN_TAP_BYTES = 20;

/** Σ >> 12 of four i32x4 → 16 bytes clamped to 0..255 (saturating narrows: the JS clamp8). */
const shiftNarrow = (a: number, b: number, c: number, d: number): Bytes => {
  const shifted = (x: number) => [...op.get(x), ...op.i32(SHIFT), ...v128.i32x4ShrS];
  return [
    ...[...shifted(a), ...shifted(b), ...v128.i16x8NarrowI32x4S],
    ...[...shifted(c), ...shifted(d), ...v128.i16x8NarrowI32x4S],
    ...v128.i8x16NarrowI16x8U,
  ];
};

function rowsKernel(): WasmFunction {
  const SRC = 0, DST = 1, N = 2, OUT = 3, TABLE = 4, POINTS = 5; // prettier-ignore
  const O = 6, J = 7, AT = 8, T = 9, TEND = 10, ROW = 11, LAST = 12; // prettier-ignore
  const A = [13, 14, 15, 16], C = 17, LO = 18, HI = 19, HALF = 20; // prettier-ignore
  const accumulate = (acc: number, pixels: number, mul: Bytes) => [
    ...[...op.get(acc), ...op.get(pixels), ...op.get(C), ...mul, ...v128.i32x4Add, ...op.set(acc)],
  ];
  const tap = [
    // row = src + offset + at; c = weight in every 16-bit lane
    ...[...op.get(SRC), ...op.get(T), ...op.i32Load(0), ...op.i32Add, ...op.get(AT), ...op.i32Add],
    ...op.set(ROW),
    ...[...op.get(T), ...op.i32Load(4), ...v128.i16x8Splat, ...op.set(C)],
    ...[
      ...op.get(ROW),
      ...v128.load8x8U(0),
      ...op.set(LO),
      ...op.get(ROW),
      ...v128.load8x8U(8),
      ...op.set(HI),
    ],
    ...accumulate(A[0], LO, v128.i32x4ExtmulLowI16x8S),
    ...accumulate(A[1], LO, v128.i32x4ExtmulHighI16x8S),
    ...accumulate(A[2], HI, v128.i32x4ExtmulLowI16x8S),
    ...accumulate(A[3], HI, v128.i32x4ExtmulHighI16x8S),
  ];
  const chunk = [
    // at = min(j, n − 16): the last chunk overlaps the one before rather than running past the row.
    ...[...op.get(J), ...op.get(LAST), ...op.get(J), ...op.get(LAST), ...op.i32LtU, ...op.select],
    ...op.set(AT),
    ...A.flatMap((a) => [...op.get(HALF), ...op.set(a)]),
    // t = table + o·points·8, tEnd = t + points·8
    ...[...op.get(TABLE), ...op.get(O), ...op.get(POINTS), ...op.i32Mul, ...op.i32(ROW_TAP_BYTES)],
    ...[...op.i32Mul, ...op.i32Add, ...op.tee(T), ...op.get(POINTS), ...op.i32(ROW_TAP_BYTES)],
    ...[...op.i32Mul, ...op.i32Add, ...op.set(TEND)],
    ...countedLoop(T, TEND, ROW_TAP_BYTES, tap),
    // dst + o·n + at ← the 16 bytes
    ...[...op.get(DST), ...op.get(O), ...op.get(N), ...op.i32Mul, ...op.i32Add, ...op.get(AT), ...op.i32Add],
    ...shiftNarrow(A[0], A[1], A[2], A[3]),
    ...v128.store(0),
  ];
  const row = [...op.i32(0), ...op.set(J), ...countedLoop(J, N, 16, chunk)];
  return {
    name: 'rows',
    params: [I32, I32, I32, I32, I32, I32],
    locals: [
      [7, I32],
      [8, V128],
    ],
    code: [
      ...[...op.i32(1 << (SHIFT - 1)), ...v128.i32x4Splat, ...op.set(HALF)],
      ...[...op.get(N), ...op.i32(16), ...op.i32Sub, ...op.set(LAST)],
      ...op.i32(0),
      ...op.set(O),
      ...countedLoop(O, OUT, 1, row),
    ],
  };
}

function columnsKernel(): WasmFunction {
  const SRC = 0, DST = 1, ROWS = 2, ROW_BYTES = 3, OUT = 4, TABLE = 5, POINTS = 6; // prettier-ignore
  const Y = 7, O = 8, T = 9, TEND = 10, ROW = 11, D = 12; // prettier-ignore
  const ACC = 13, HALF = 14; // prettier-ignore
  const tap = [
    ...[...op.get(ACC), ...op.get(ROW), ...op.get(T), ...op.i32Load(0), ...op.i32Add, ...v128.load32Zero(0)],
    ...[...v128.i16x8ExtendLowI8x16U, ...v128.i32x4ExtendLowI16x8U],
    ...[...op.get(T), ...v128.load(4), ...v128.i32x4Mul, ...v128.i32x4Add, ...op.set(ACC)],
  ];
  const pixel = [
    ...[...op.get(HALF), ...op.set(ACC)],
    ...[...op.get(T), ...op.get(POINTS), ...op.i32(COLUMN_TAP_BYTES), ...op.i32Mul, ...op.i32Add],
    ...op.set(TEND),
    // the taps of pixel o follow those of o − 1: t runs on through the table
    ...countedLoop(T, TEND, COLUMN_TAP_BYTES, tap),
    ...[...op.get(D), ...shiftNarrow(ACC, ACC, ACC, ACC), ...v128.store32Lane0(0)],
    ...[...op.get(D), ...op.i32(4), ...op.i32Add, ...op.set(D)],
  ];
  const row = [
    ...[...op.get(SRC), ...op.get(Y), ...op.get(ROW_BYTES), ...op.i32Mul, ...op.i32Add, ...op.set(ROW)],
    ...[...op.get(TABLE), ...op.set(T), ...op.i32(0), ...op.set(O)],
    ...countedLoop(O, OUT, 1, pixel),
  ];
  return {
    name: 'columns',
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [
      [6, I32],
      [2, V128],
    ],
    code: [
      ...[...op.i32(1 << (SHIFT - 1)), ...v128.i32x4Splat, ...op.set(HALF)],
      ...[...op.get(DST), ...op.set(D), ...op.i32(0), ...op.set(Y)],
      ...countedLoop(Y, ROWS, 1, row),
    ],
  };
}

export function lanczosModuleBytes(): Uint8Array<ArrayBuffer> {
  return moduleBytes([rowsKernel(), columnsKernel()]);
}

const lanczosModule = lazyModule(lanczosModuleBytes);

type RowsFunction = (src: number, dst: number, n: number, out: number, table: number, points: number) => void;
type ColumnsFunction = (
  src: number,
  dst: number,
  rows: number,
  rowBytes: number,
  out: number,
  table: number,
  points: number,
) => void;

/** Where a pass's source (16 spare bytes after it), result and table sit, each 16-byte aligned. */
function layout(srcBytes: number, dstBytes: number): { src: number; dst: number; table: number } {
  const align = (x: number) => (x + 15) & ~15;
  const dst = align(srcBytes + 16);
  return { src: 0, dst, table: align(dst + dstBytes) };
}

/**
 * The compiled kernels over one memory of their own, grown as photos need (views are made after
 * growing, never kept), or null where WebAssembly SIMD is unavailable. A pass's result is a view of
 * that memory, valid until the next pass (which may take it as its source without leaving the
 * memory): read it or copy it before; no new array per pass (a fresh array costs its page faults).
 */
export class LanczosKernel {
  private constructor(
    private readonly memory: WasmMemory,
    private readonly rowsFn: RowsFunction,
    private readonly columnsFn: ColumnsFunction,
  ) {}

  static create(): LanczosKernel | null {
    const module = lanczosModule();
    const instance = module && instantiate(module, 1 << 20, true);
    if (!instance) return null;
    const { rows, columns } = instance.exports;
    return new LanczosKernel(instance.memory, rows as RowsFunction, columns as ColumnsFunction);
  }

  /**
   * Where `data` sits in the kernel's memory (a pass's result; -1 when it is elsewhere), taken before
   * the memory grows: growing detaches the old views (their length becomes 0) but keeps the bytes.
   */
  private whereIs(data: Uint8Array): { from: number; length: number } {
    return { from: data.buffer === this.memory.buffer ? data.byteOffset : -1, length: data.length };
  }

  /** A pass's source copied to `to`: from outside, or within the memory from where it was. */
  private place(data: Uint8Array, { from, length }: { from: number; length: number }, to: number): void {
    if (from < 0) new Uint8Array(this.memory.buffer, to, length).set(data);
    else if (from !== to) new Uint8Array(this.memory.buffer).copyWithin(to, from, from + length);
  }

  /** Room for `bytes`; false if the runtime refuses (the caller falls back to JS). */
  private reserve(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    try {
      this.memory.grow(Math.ceil((bytes - have) / 65536));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Vertical pass: `out` rows, each Σ over `points` taps of weight · source row (rows of `rowBytes`
   * bytes, any channels). `taps` and `weights` hold out × points source row indices and weights.
   */
  rows(
    data: Uint8Array,
    rowBytes: number,
    out: number,
    points: number,
    taps: Int32Array,
    weights: Int32Array,
  ): Uint8Array | null {
    if (rowBytes < 16) return null;
    const at = layout(data.length, out * rowBytes);
    const source = this.whereIs(data);
    if (!this.reserve(at.table + taps.length * ROW_TAP_BYTES)) return null;
    const heap = this.memory.buffer;
    this.place(data, source, at.src);
    const table = new Int32Array(heap, at.table, taps.length * 2);
    for (let k = 0; k < taps.length; k++) {
      table[2 * k] = taps[k] * rowBytes;
      table[2 * k + 1] = weights[k];
    }
    this.rowsFn(at.src, at.dst, rowBytes, out, at.table, points);
    return new Uint8Array(heap, at.dst, out * rowBytes);
  }

  /**
   * Horizontal pass: each of `height` rows of `width` pixels of `channels` (3 or 4) bytes → `out`
   * RGBA pixels (the 4th byte filtered too when there is one; set it after). `taps` and `weights`
   * hold out × points source column indices and weights.
   */
  columns(
    data: Uint8Array,
    width: number,
    height: number,
    channels: 3 | 4,
    out: number,
    points: number,
    taps: Int32Array,
    weights: Int32Array,
  ): Uint8Array | null {
    const at = layout(data.length, height * out * 4);
    const source = this.whereIs(data);
    if (!this.reserve(at.table + taps.length * COLUMN_TAP_BYTES)) return null;
    const heap = this.memory.buffer;
    this.place(data, source, at.src);
    const table = new Int32Array(heap, at.table, taps.length * (COLUMN_TAP_BYTES / 4));
    for (let k = 0, t = 0; k < taps.length; k++, t += 5) {
      table[t] = taps[k] * channels;
      table[t + 1] = table[t + 2] = table[t + 3] = table[t + 4] = weights[k];
    }
    this.columnsFn(at.src, at.dst, height, width * channels, out, at.table, points);
    return new Uint8Array(heap, at.dst, height * out * 4);
  }
}
