// libvips's resize (what sharp does on the server) redone in plain TypeScript, for the browser: the
// canvas's own scaling is another filter (Chromium: mipmaps and linear filtering) and shifts the
// encoder's input, hence the captions. This follows libvips 8.x `vips_resize` with the Lanczos-3
// kernel and its default gap of 2, on 8-bit pixels, in its integer arithmetic:
//   1. vertical, then horizontal: when the factor is at least 2·2, an integer box shrink first
//      (`vips_shrinkv/h`, ceil), then the residual reduce (`vips_reducev/h`);
//   2. a reduce is a separable Lanczos-3 whose support grows with the factor (2·rint(3·factor)+1 taps),
//      its coefficients tabulated at 1/64 pixel and stored as 12-bit fixed point, edges extended by copy,
//      each output rounded to 8 bits.
// JPEGs that sharp decodes at a reduced size (shrink-on-load, for shrinks of 2 and more) are
// approximated by a box average of the full decode: libjpeg's DCT scaling is not available here.
// The two reduce passes run in WebAssembly SIMD where the runtime has it (lanczos-kernel.ts, the same
// bytes), else in the plain loops below.

import { LanczosKernel } from './lanczos-kernel.js';

export interface ResampleOptions {
  /** Run the reduce passes in the WebAssembly SIMD kernels where available (default true). */
  simd?: boolean;
  /** Written into this array (outW × outH × 4 values) rather than a new one. */
  into?: Uint8ClampedArray;
}

let sharedKernel: LanczosKernel | null | undefined;
/** One kernel per page (or worker): its memory is reused photo after photo. */
function kernel(): LanczosKernel | null {
  if (sharedKernel === undefined) sharedKernel = LanczosKernel.create();
  return sharedKernel;
}

/** Resamples RGBA pixels (alpha ignored, written as 255) to outW × outH. */
export function resampleLanczos3(
  rgba: Uint8ClampedArray,
  width: number,
  height: number,
  outW: number,
  outH: number,
  options: ResampleOptions = {},
): Uint8ClampedArray {
  const simd = options.simd === false ? null : kernel();
  let img: Plane = {
    data: new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.length),
    width,
    height,
    channels: 4,
  };
  // Reductions first, vertical then horizontal; then any enlargement, as vips_resize orders them.
  if (outH < img.height) img = reduceAxis(img, outH, 'v', simd);
  if (outW < img.width) img = reduceAxis(img, outW, 'h', simd);
  if (outW > img.width || outH > img.height) img = enlarge(img, outW, outH);
  const out = options.into ?? new Uint8ClampedArray(outW * outH * 4);
  if (out.length !== outW * outH * 4)
    throw new RangeError(`resampleLanczos3: into holds ${out.length} values`);
  for (let i = 0, j = 0; i < out.length; i += 4, j += img.channels) {
    out[i] = img.data[j];
    out[i + 1] = img.data[j + 1];
    out[i + 2] = img.data[j + 2];
    out[i + 3] = 255;
  }
  return out;
}

/**
 * The integer shrink sharp's JPEG loader applies before resizing a width × height JPEG to outW × outH
 * (its shrink-on-load: 1, 2, 4 or 8), which `boxShrink` then approximates.
 */
export function jpegShrinkOnLoad(width: number, height: number, outW: number, outH: number): number {
  const shrink = Math.min(width / outW, height / outH);
  let factor = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  // sharp lowers it where libjpeg would round badly.
  if (factor > 1 && Math.trunc(shrink) === factor) factor /= 2;
  return factor;
}

/** An RGBA image shrunk by an integer factor (box average), to ceil(size / factor) as libjpeg sizes it. */
export function boxShrink(
  rgba: Uint8ClampedArray,
  width: number,
  height: number,
  factor: number,
): { data: Uint8ClampedArray; width: number; height: number } {
  const w = Math.ceil(width / factor);
  const h = Math.ceil(height / factor);
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const y0 = y * factor;
    const y1 = Math.min(height, y0 + factor);
    for (let x = 0; x < w; x++) {
      const x0 = x * factor;
      const x1 = Math.min(width, x0 + factor);
      const n = (y1 - y0) * (x1 - x0);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = y0; yy < y1; yy++)
        for (let xx = x0, i = (yy * width + x0) * 4; xx < x1; xx++, i += 4) {
          r += rgba[i];
          g += rgba[i + 1];
          b += rgba[i + 2];
        }
      const o = (y * w + x) * 4;
      out[o] = (r + (n >> 1)) / n;
      out[o + 1] = (g + (n >> 1)) / n;
      out[o + 2] = (b + (n >> 1)) / n;
      out[o + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

interface Plane {
  /** Always a plain Uint8Array (a view of a canvas's clamped array): one array type keeps the loops fast. */
  data: Uint8Array;
  width: number;
  height: number;
  /** Values per pixel; the first three are R, G, B. */
  channels: number;
}

const TRANSFORM_SCALE = 64;
const INTERPOLATE_SHIFT = 12;
const INTERPOLATE_SCALE = 1 << INTERPOLATE_SHIFT;
const GAP = 2;

/** One axis of vips_resize: to `size` along it (v: rows, h: columns). */
function reduceAxis(img: Plane, size: number, axis: 'v' | 'h', simd: LanczosKernel | null): Plane {
  const length = axis === 'v' ? img.height : img.width;
  // vips_resize hands vips_reduce{v,h} the factor 1 / (1 / shrink), as sharp computes it.
  const shrink = 1 / (1 / (length / size));
  const out = Math.round(length / shrink);
  let extra = out * shrink - length;
  let residual = shrink;
  const intShrink = Math.max(1, Math.floor(length / out / GAP));
  if (intShrink > 1) {
    img = shrinkAxis(img, intShrink, axis);
    residual /= intShrink;
    extra /= intShrink;
  }
  if (residual === 1) return img;
  const points = 2 * roundHalfEven(3 * residual) + 1;
  const offset = (1 + extra) / 2 - 1;
  const masks: Int16Array[] = [];
  for (let t = 0; t <= TRANSFORM_SCALE; t++)
    masks.push(fixedMask(points, residual, Math.fround(t / TRANSFORM_SCALE)));
  return reduce(img, out, axis, residual, offset, points, masks, simd);
}

function reduce(
  img: Plane,
  out: number,
  axis: 'v' | 'h',
  residual: number,
  offset: number,
  points: number,
  masks: Int16Array[],
  simd: LanczosKernel | null,
): Plane {
  const { width, height } = img;
  const length = axis === 'v' ? height : width;
  // The input is extended by copy: ceil(points/2) − 1 before it (vips_embed), and as far as needed after.
  const pad = Math.ceil(points / 2) - 1;
  const taps = new Int32Array(out * points);
  const weights = new Int32Array(out * points);
  for (let o = 0; o < out; o++) {
    const pos = (o + 0.5) * residual - 0.5 - offset;
    const ip = Math.trunc(pos);
    const mask = masks[((Math.trunc(pos * TRANSFORM_SCALE * 2) & (TRANSFORM_SCALE * 2 - 1)) + 1) >> 1];
    for (let i = 0; i < points; i++) {
      taps[o * points + i] = Math.min(length - 1, Math.max(0, ip + i - pad));
      weights[o * points + i] = mask[i];
    }
  }
  if (simd) {
    const { data, channels } = img;
    if (axis === 'v') {
      const rows = simd.rows(data, width * channels, out, points, taps, weights);
      if (rows) return { data: rows, width, height: out, channels };
    } else if (channels === 3 || channels === 4) {
      const columns = simd.columns(data, width, height, channels, out, points, taps, weights);
      if (columns) return { data: columns, width: out, height, channels: 4 };
    }
  }
  return axis === 'v'
    ? reduceRows(img, out, points, taps, weights)
    : reduceColumns(img, out, points, taps, weights);
}

/** Output row o = Σ weights · input rows taps (row by row: contiguous reads). */
function reduceRows(img: Plane, out: number, points: number, taps: Int32Array, weights: Int32Array): Plane {
  const { data, width, channels } = img;
  const n = width * 3;
  const result = new Uint8Array(out * n);
  const acc = new Int32Array(n);
  for (let o = 0; o < out; o++) {
    acc.fill(INTERPOLATE_SCALE >> 1);
    for (let i = 0; i < points; i++) {
      const c = weights[o * points + i];
      let p = taps[o * points + i] * width * channels;
      for (let j = 0; j < n; j += 3, p += channels) {
        acc[j] += c * data[p];
        acc[j + 1] += c * data[p + 1];
        acc[j + 2] += c * data[p + 2];
      }
    }
    const q = o * n;
    for (let j = 0; j < n; j++) {
      const v = acc[j] >> INTERPOLATE_SHIFT;
      result[q + j] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { data: result, width, height: out, channels: 3 };
}

/** Output column o = Σ weights · input columns taps, row by row. */
function reduceColumns(
  img: Plane,
  out: number,
  points: number,
  taps: Int32Array,
  weights: Int32Array,
): Plane {
  const { data, width, height, channels } = img;
  const result = new Uint8Array(out * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let o = 0; o < out; o++) {
      let r = INTERPOLATE_SCALE >> 1;
      let g = r;
      let b = r;
      for (let i = 0, k = o * points; i < points; i++, k++) {
        const p = (row + taps[k]) * channels;
        const c = weights[k];
        r += c * data[p];
        g += c * data[p + 1];
        b += c * data[p + 2];
      }
      const q = (y * out + o) * 3;
      result[q] = clamp8(r >> INTERPOLATE_SHIFT);
      result[q + 1] = clamp8(g >> INTERPOLATE_SHIFT);
      result[q + 2] = clamp8(b >> INTERPOLATE_SHIFT);
    }
  }
  return { data: result, width: out, height, channels: 3 };
}

/**
 * Enlarging (a photo under the network's size on a side): libvips uses its bicubic interpolator
 * (Catmull-Rom) with centre sampling and copied edges; this is the same filter in floating point,
 * rounded once (within a level or so of libvips's fixed point).
 */
function enlarge(img: Plane, outW: number, outH: number): Plane {
  const { data, width, height, channels } = img;
  const weightsFor = (out: number, length: number) => {
    const taps = new Int32Array(out * 4);
    const w = new Float64Array(out * 4);
    const scale = length / out;
    for (let o = 0; o < out; o++) {
      const pos = o * scale - 0.5;
      const base = Math.floor(pos);
      const t = pos - base;
      const k = [catmullRom(t + 1), catmullRom(t), catmullRom(1 - t), catmullRom(2 - t)];
      for (let i = 0; i < 4; i++) {
        taps[o * 4 + i] = Math.min(length - 1, Math.max(0, base - 1 + i));
        w[o * 4 + i] = k[i];
      }
    }
    return { taps, w };
  };
  const cols = weightsFor(outW, width);
  const rows = weightsFor(outH, height);
  // Horizontal into floats, then vertical, rounded once.
  const mid = new Float64Array(height * outW * 3);
  for (let y = 0; y < height; y++)
    for (let o = 0; o < outW; o++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let i = 0; i < 4; i++)
          sum += cols.w[o * 4 + i] * data[(y * width + cols.taps[o * 4 + i]) * channels + c];
        mid[(y * outW + o) * 3 + c] = sum;
      }
  const result = new Uint8Array(outW * outH * 3);
  for (let o = 0; o < outH; o++)
    for (let x = 0; x < outW * 3; x++) {
      let sum = 0;
      for (let i = 0; i < 4; i++) sum += rows.w[o * 4 + i] * mid[rows.taps[o * 4 + i] * outW * 3 + x];
      result[o * outW * 3 + x] = clamp8(Math.round(sum));
    }
  return { data: result, width: outW, height: outH, channels: 3 };
}

function catmullRom(x: number): number {
  const a = Math.abs(x);
  if (a < 1) return 1.5 * a * a * a - 2.5 * a * a + 1;
  if (a < 2) return -0.5 * a * a * a + 2.5 * a * a - 4 * a + 2;
  return 0;
}

/** vips_shrink{v,h} with ceil: box averages of `factor` pixels, the last block extended by copy. */
function shrinkAxis(img: Plane, factor: number, axis: 'v' | 'h'): Plane {
  const { data, width, height, channels } = img;
  const ow = axis === 'h' ? Math.ceil(width / factor) : width;
  const oh = axis === 'v' ? Math.ceil(height / factor) : height;
  const result = new Uint8Array(ow * oh * 3);
  // libvips's uchar path: (sum + factor/2) · ⌊2^24 / factor⌋ >> 24.
  const multiplier = Math.floor(2 ** 24 / factor);
  const amend = factor >> 1;
  const average = (sum: number) => Math.floor(((sum + amend) * multiplier) / 2 ** 24);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0; k < factor; k++) {
        const sx = axis === 'h' ? Math.min(width - 1, x * factor + k) : x;
        const sy = axis === 'v' ? Math.min(height - 1, y * factor + k) : y;
        const p = (sy * width + sx) * channels;
        r += data[p];
        g += data[p + 1];
        b += data[p + 2];
      }
      const q = (y * ow + x) * 3;
      result[q] = average(r);
      result[q + 1] = average(g);
      result[q + 2] = average(b);
    }
  return { data: result, width: ow, height: oh, channels: 3 };
}

/** The Lanczos-3 mask at sub-pixel position x, normalised to sum 1, as 12-bit fixed point (truncated). */
function fixedMask(points: number, shrink: number, x: number): Int16Array {
  const half = x + points / 2 - 1;
  const scale = 1 / shrink;
  const c = new Float64Array(points);
  let sum = 0;
  for (let i = 0; i < points; i++) {
    c[i] = lanczos3((i - half) * scale);
    sum += c[i];
  }
  const fixed = new Int16Array(points);
  for (let i = 0; i < points; i++) fixed[i] = Math.trunc((c[i] / sum) * INTERPOLATE_SCALE);
  return fixed;
}

function lanczos3(x: number): number {
  return x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}
