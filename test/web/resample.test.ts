import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import sharp from 'sharp';
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
