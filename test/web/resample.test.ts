import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import sharp from 'sharp';
import { LanczosKernel } from '../../src/browser/lanczos-kernel.js';
import { resampleLanczos3 } from '../../src/browser/resample.js';
import { decodeImage } from '../../src/vision/decode-image.js';
import { makeJpeg } from '../helpers/images.js';
import { flickrPhoto } from '../helpers/real-captioner.js';

/** The server's 224×224 pixels (sharp) and the browser's resampling of the same full-size decode. */
async function compare(jpeg: Buffer): Promise<{ max: number; mean: number }> {
  const server = await decodeImage(jpeg, { width: 224, height: 224 });
  const { data, info } = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgba = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length);
  const browser = resampleLanczos3(rgba, info.width, info.height, 224, 224);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < 224 * 224; i++)
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(browser[i * 4 + c] - server.data[i * 3 + c]);
      max = Math.max(max, d);
      sum += d;
    }
  return { max, mean: sum / (224 * 224 * 3) };
}

async function photo(width: number, height: number): Promise<Buffer> {
  const path = flickrPhoto(0);
  const source = path ? await readFile(path) : await makeJpeg(320, 240);
  return sharp(source).resize(width, height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
}

test('squashing to 224×224 in the browser gives the server’s pixels: exact when reducing', async () => {
  for (const [w, h] of [
    [500, 375],
    [640, 480],
    [333, 500],
    [1000, 600],
  ]) {
    const { max } = await compare(await photo(w, h));
    assert.equal(max, 0, `${w}×${h}`);
  }
});

test('enlarging (a side under 224) is within 2 levels; big JPEGs (sharp shrinks them on load) within a few', async () => {
  for (const [w, h] of [
    [150, 150],
    [300, 200],
  ]) {
    const { max } = await compare(await photo(w, h));
    assert.ok(max <= 2, `${w}×${h}: max ${max}`);
  }
  const { mean } = await compare(await photo(1155, 866));
  assert.ok(mean < 3, `1155×866: mean ${mean}`);
});

test('the WebAssembly SIMD passes give the JS loops’ bytes, whatever the sizes and channels', () => {
  assert.ok(LanczosKernel.create(), 'Node has WebAssembly SIMD: the kernels compile');
  for (const [w, h, ow, oh] of [
    [578, 433, 224, 224], // a 1-MP JPEG after its shrink-on-load halving
    [1155, 866, 224, 224],
    [3000, 17, 224, 9], // an integer box shrink first: 3-channel rows for the kernel
    [30, 500, 7, 224],
    [5, 5, 3, 2], // 20-byte rows: the last 16-byte chunk overlaps the first
    [3, 40, 2, 10], // 12-byte rows: too narrow for the kernel, the JS loop runs
    [640, 480, 300, 100],
  ]) {
    const rgba = new Uint8ClampedArray(w * h * 4);
    // Pixels from a hash: every level, sharp edges (negative lobes clamp at 0 and 255).
    for (let i = 0; i < rgba.length; i++) rgba[i] = Math.imul(i + 1, 2654435761) >>> 24;
    const js = resampleLanczos3(rgba, w, h, ow, oh, { simd: false });
    const simd = resampleLanczos3(rgba, w, h, ow, oh);
    assert.equal(simd.length, ow * oh * 4);
    assert.deepEqual(simd, js, `${w}×${h} → ${ow}×${oh}`);
  }
});

test('a pass takes the one before’s result where it lies in the kernel’s memory, even when it must grow', () => {
  const kernel = LanczosKernel.create()!;
  const fresh = LanczosKernel.create()!;
  const [w, h, out, points] = [40, 30, 10, 7];
  const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => Math.imul(i + 1, 2654435761) >>> 24);
  const taps = (n: number, length: number) =>
    Int32Array.from({ length: n * points }, (_, i) => (i * 7) % length);
  const weights = (n: number) =>
    Int32Array.from({ length: n * points }, (_, i) => [-300, 900, 3000, 900, -300, 0, 0][i % 7]);
  const rows = kernel.rows(rgba, w * 4, out, points, taps(out, h), weights(out))!;
  assert.equal(rows.buffer.byteLength > 0 && rows.length, w * 4 * out, 'a view of the rows pass');
  const copy = rows.slice();
  // Wide enough a result that the memory grows: the source (a view of the old memory) survives it.
  const wide = 20_000;
  const columns = kernel.columns(rows, w, out, 4, wide, points, taps(wide, w), weights(wide))!;
  const expected = fresh.columns(copy, w, out, 4, wide, points, taps(wide, w), weights(wide))!;
  assert.deepEqual(columns, expected);
});

test('resampling writes into the array it is given', () => {
  const rgba = new Uint8ClampedArray(578 * 433 * 4).map((_, i) => (i * 31) & 255);
  const into = new Uint8ClampedArray(224 * 224 * 4);
  const out = resampleLanczos3(rgba, 578, 433, 224, 224, { into });
  assert.equal(out, into);
  assert.deepEqual(out, resampleLanczos3(rgba, 578, 433, 224, 224));
  assert.throws(
    () => resampleLanczos3(rgba, 578, 433, 224, 224, { into: new Uint8ClampedArray(10) }),
    RangeError,
  );
});
