import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { jpegSize, rotateClockwise } from '../../src/browser/jpeg-scaled.js';
import { decodeImage } from '../../src/vision/decode-image.js';
import { chromiumMissing, openImagePage } from '../helpers/browser.js';
import { makeJpeg } from '../helpers/images.js';
import { flickrPhoto } from '../helpers/real-captioner.js';

/** A photo as a JPEG of the given size (a Flickr8k photo where there is one), EXIF orientation optional. */
async function photo(width: number, height: number, orientation?: number): Promise<Buffer> {
  const path = flickrPhoto(3);
  const source = path ? await readFile(path) : await makeJpeg(320, 240);
  const resized = sharp(source).resize(width, height, { fit: 'fill' }).jpeg({ quality: 90 });
  return (orientation ? resized.withMetadata({ orientation }) : resized).toBuffer();
}

test('jpegSize reads the frame header past EXIF and whatever comes before it; not a JPEG: undefined', async () => {
  assert.deepEqual(jpegSize(await photo(1155, 866, 6)), { width: 1155, height: 866 });
  const progressive = await sharp(await photo(640, 480))
    .jpeg({ progressive: true })
    .toBuffer();
  assert.deepEqual(jpegSize(progressive), { width: 640, height: 480 });
  const png = await sharp(await photo(64, 48))
    .png()
    .toBuffer();
  assert.equal(jpegSize(png), undefined);
  assert.equal(jpegSize((await photo(64, 48)).subarray(0, 20)), undefined, 'cut short');
});

test('rotateClockwise turns RGBA pixels a quarter at a time: four quarters are the picture itself', () => {
  // 3 × 2: each pixel's red value is its index.
  const image = {
    data: Uint8ClampedArray.from({ length: 24 }, (_, i) => (i % 4 === 0 ? i / 4 : 255)),
    width: 3,
    height: 2,
  };
  const red = (p: { data: Uint8ClampedArray }) => [...p.data].filter((_, i) => i % 4 === 0);
  const quarter = rotateClockwise(image, 90);
  // 0 1 2      3 0
  // 3 4 5  →   4 1
  //            5 2
  assert.deepEqual([quarter.width, quarter.height, ...red(quarter)], [2, 3, 3, 0, 4, 1, 5, 2]);
  assert.deepEqual(red(rotateClockwise(image, 180)), [5, 4, 3, 2, 1, 0]);
  assert.deepEqual(red(rotateClockwise(image, 270)), [2, 5, 1, 4, 0, 3]);
  let turned: ReturnType<typeof rotateClockwise> = image;
  for (let k = 0; k < 4; k++) turned = rotateClockwise(turned, 90);
  assert.deepEqual(turned, image);
});

/**
 * In Chromium: a big JPEG decoded at the size sharp's shrink-on-load decodes it at (ImageDecoder), EXIF
 * orientation applied, and squashed to 224×224 within a few levels of the server's pixels; without
 * ImageDecoder, the whole-photo path gives about the same.
 */
describe('big JPEGs decoded at their shrink-on-load size in Chromium', { skip: chromiumMissing() }, () => {
  let page: Page;
  let close: (() => Promise<void>) | undefined;
  const photos = new Map<string, Buffer>();

  before(async () => {
    ({ page, close } = await openImagePage((path) => photos.get(path)));
  });
  after(async () => {
    await close?.();
  });

  /** The page's 224×224 pixels of a JPEG (with or without ImageDecoder), and how many decoders it made. */
  async function inPage(url: string, jpeg: Buffer, withDecoder: boolean) {
    photos.set(url, jpeg);
    const { pixels, decoders } = (await page.evaluate(
      `(async () => {
        const { photoPixels } = await import('/image.js');
        const Original = globalThis.ImageDecoder;
        let decoders = 0;
        globalThis.ImageDecoder = ${withDecoder} ? class extends Original { constructor(init) { super(init); decoders++; } } : undefined;
        try {
          const blob = await (await fetch('${url}')).blob();
          const { data } = await photoPixels(blob, [224, 224]);
          return { pixels: Array.from(data), decoders };
        } finally {
          globalThis.ImageDecoder = Original;
        }
      })()`,
    )) as { pixels: number[]; decoders: number };
    return { pixels, decoders };
  }

  async function meanDifference(pixels: number[], jpeg: Buffer): Promise<number> {
    const server = (await decodeImage(jpeg, { width: 224, height: 224 })).data;
    let sum = 0;
    for (let i = 0; i < 224 * 224; i++)
      for (let c = 0; c < 3; c++) sum += Math.abs(pixels[i * 4 + c] - server[i * 3 + c]);
    return sum / (224 * 224 * 3);
  }

  test('a 1-MP JPEG, upright and turned by EXIF: within a few levels of the server’s pixels either way', async () => {
    for (const orientation of [undefined, 6, 3, 8]) {
      const jpeg = await photo(1155, 866, orientation);
      const scaled = await inPage(`/photo-${orientation ?? 1}.jpg`, jpeg, true);
      assert.equal(scaled.decoders, 1, 'decoded by ImageDecoder');
      const whole = await inPage(`/photo-${orientation ?? 1}.jpg`, jpeg, false);
      assert.equal(whole.decoders, 0);
      const [a, b] = [await meanDifference(scaled.pixels, jpeg), await meanDifference(whole.pixels, jpeg)];
      assert.ok(
        a < 4 && b < 4,
        `orientation ${orientation ?? 1}: mean difference ${a.toFixed(2)} (ImageDecoder), ${b.toFixed(2)} (whole photo)`,
      );
      // Turned the wrong way, the pixels would be tens of levels off.
      if (orientation) {
        const upright = await photo(1155, 866);
        assert.ok((await meanDifference(scaled.pixels, upright)) > 10, 'the EXIF turn was applied');
      }
    }
  });

  test('a JPEG the server shrinks by ¼ or ⅛ on load (a phone photo): the server’s very pixels', async () => {
    for (const [w, h] of [
      [2000, 1500],
      [4032, 3024],
    ]) {
      const jpeg = await photo(w, h);
      const { decoders, pixels } = await inPage(`/big-${w}.jpg`, jpeg, true);
      assert.equal(decoders, 1);
      assert.equal(await meanDifference(pixels, jpeg), 0, `${w}×${h}`);
    }
  });

  test('a JPEG the server does not shrink on load (under twice the size) is decoded whole', async () => {
    const jpeg = await photo(400, 300);
    const { decoders, pixels } = await inPage('/small.jpg', jpeg, true);
    assert.equal(decoders, 0);
    assert.ok((await meanDifference(pixels, jpeg)) < 1);
  });
});
