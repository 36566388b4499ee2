import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, sniffImageFormat, type DecodedImage } from '../../src/vision/decode-image.js';
import { CaptionerError } from '../../src/util/errors.js';

const SIZE = { width: 32, height: 32 };
const RED = { r: 220, g: 30, b: 30 };

/** The RGB of pixel (x, y). */
function pixel(image: DecodedImage, x: number, y: number): [number, number, number] {
  const i = (y * image.width + x) * 3;
  return [image.data[i], image.data[i + 1], image.data[i + 2]];
}

function near(actual: number[], expected: number[], tolerance: number, what: string) {
  actual.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) <= tolerance, `${what}: got ${actual}, expected about ${expected}`),
  );
}

const solid = (background: object, channels: 3 | 4 = 3, width = 40, height = 30) =>
  sharp({ create: { width, height, channels, background } });

async function rejectsWith(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CaptionerError, `expected a CaptionerError, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes('\n'), 'one-line message');
    return true;
  });
}

describe('decodeImage', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'captioner-decode-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const formats = {
    jpeg: (s: Sharp) => s.jpeg({ quality: 95 }),
    png: (s: Sharp) => s.png(),
    webp: (s: Sharp) => s.webp({ quality: 95 }),
    gif: (s: Sharp) => s.gif(),
    tiff: (s: Sharp) => s.tiff(),
    avif: (s: Sharp) => s.avif({ quality: 90 }),
  } as const;
  for (const [format, encode] of Object.entries(formats)) {
    it(`decodes ${format} to RGB at the requested size`, async () => {
      const bytes = await encode(solid(RED)).toBuffer();
      assert.equal(sniffImageFormat(bytes), format);
      const image = await decodeImage(bytes, SIZE);
      assert.equal(image.format, format);
      assert.equal(image.width, 32);
      assert.equal(image.height, 32);
      assert.equal(image.data.length, 32 * 32 * 3);
      near(pixel(image, 16, 16), [RED.r, RED.g, RED.b], 25, format);
    });
  }

  it('reads a file path as well as bytes', async () => {
    const path = join(dir, 'red.png');
    await solid(RED).png().toFile(path);
    const image = await decodeImage(path, SIZE);
    near(pixel(image, 0, 0), [RED.r, RED.g, RED.b], 2, 'png file');
  });

  it('squashes without cropping (aspect ratio not kept)', async () => {
    // 80×20: left quarter blue, rest red. Squashed to 32×32, the left quarter is still blue.
    const base = solid(RED, 3, 80, 20);
    const blue = await solid({ r: 0, g: 0, b: 255 }, 3, 20, 20).png().toBuffer();
    const bytes = await base
      .composite([{ input: blue, left: 0, top: 0 }])
      .png()
      .toBuffer();
    const image = await decodeImage(bytes, SIZE);
    near(pixel(image, 2, 16), [0, 0, 255], 10, 'left edge');
    near(pixel(image, 30, 16), [RED.r, RED.g, RED.b], 10, 'right edge');
  });

  it('flattens transparency on white', async () => {
    const bytes = await solid({ r: 0, g: 0, b: 0, alpha: 0 }, 4).png().toBuffer();
    near(pixel(await decodeImage(bytes, SIZE), 5, 5), [255, 255, 255], 1, 'transparent pixel');
  });

  it('converts grayscale, 16-bit and CMYK to 8-bit RGB', async () => {
    const gray = await solid({ r: 100, g: 100, b: 100 }).toColourspace('b-w').png().toBuffer();
    assert.equal((await sharp(gray).metadata()).channels, 1);
    near(pixel(await decodeImage(gray, SIZE), 3, 3), [100, 100, 100], 2, 'grayscale');

    const deep = await solid(RED).toColourspace('rgb16').png().toBuffer();
    assert.equal((await sharp(deep).metadata()).depth, 'ushort');
    near(pixel(await decodeImage(deep, SIZE), 3, 3), [RED.r, RED.g, RED.b], 3, '16-bit');

    const cmyk = await solid(RED).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
    const image = await decodeImage(cmyk, SIZE);
    const [r, g, b] = pixel(image, 3, 3);
    assert.ok(r > 150 && g < 100 && b < 100, `CMYK red decoded as ${[r, g, b]}`);
  });

  it('honours EXIF orientation', async () => {
    // Stored: left half red, right half blue; orientation 6 says "rotate 90° clockwise to display",
    // which puts red on top and blue at the bottom.
    const blue = await solid({ r: 0, g: 0, b: 255 }, 3, 20, 20).png().toBuffer();
    const stored = await solid(RED, 3, 40, 20)
      .composite([{ input: blue, left: 20, top: 0 }])
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    assert.equal((await sharp(stored).metadata()).orientation, 6);
    const image = await decodeImage(stored, SIZE);
    near(pixel(image, 4, 2), [RED.r, RED.g, RED.b], 30, 'top');
    near(pixel(image, 4, 29), [0, 0, 255], 30, 'bottom');
  });

  it('takes the first frame of an animated GIF', async () => {
    // Two 8×8 pages stacked: red, then blue.
    const frames = Buffer.alloc(8 * 16 * 3);
    for (let i = 0; i < 8 * 16; i++) frames.set(i < 64 ? [RED.r, RED.g, RED.b] : [0, 0, 255], i * 3);
    const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } })
      .gif()
      .toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const image = await decodeImage(gif, SIZE);
    near(pixel(image, 16, 16), [RED.r, RED.g, RED.b], 25, 'first frame');
  });

  it('refuses text, empty files and unsupported formats as IMAGE_UNSUPPORTED', async () => {
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'this is a caption file, not a photo\n'.repeat(20));
    await rejectsWith(decodeImage(text, SIZE), 'IMAGE_UNSUPPORTED');
    await rejectsWith(decodeImage(Buffer.alloc(0), SIZE), 'IMAGE_UNSUPPORTED');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
    await rejectsWith(decodeImage(svg, SIZE), 'IMAGE_UNSUPPORTED');
    const heic = Buffer.concat([
      Buffer.from([0, 0, 0, 24]),
      Buffer.from('ftypheicmif1heic'),
      Buffer.alloc(64),
    ]);
    await rejectsWith(decodeImage(heic, SIZE), 'IMAGE_UNSUPPORTED');
  });

  it('refuses truncated and damaged images as IMAGE_CORRUPT', async () => {
    const jpeg = await sharp({
      create: {
        width: 64,
        height: 64,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 128, sigma: 50 },
      },
    })
      .jpeg({ quality: 90 })
      .toBuffer();
    const truncated = join(dir, 'truncated.jpg');
    await writeFile(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await rejectsWith(decodeImage(truncated, SIZE), 'IMAGE_CORRUPT');
    const png = await solid(RED).png().toBuffer();
    const damaged = Buffer.from(png);
    damaged.fill(0x55, 40, damaged.length - 20);
    await rejectsWith(decodeImage(damaged, SIZE), 'IMAGE_CORRUPT');
  });

  it('refuses images over the pixel or byte caps as IMAGE_TOO_LARGE', async () => {
    const big = await solid(RED, 3, 2000, 1000).png().toBuffer(); // small file, 2 megapixels
    await rejectsWith(decodeImage(big, { ...SIZE, maxPixels: 1_000_000 }), 'IMAGE_TOO_LARGE');
    const path = join(dir, 'big.png');
    await writeFile(path, big);
    await rejectsWith(decodeImage(path, { ...SIZE, maxBytes: 100 }), 'IMAGE_TOO_LARGE');
    await decodeImage(path, SIZE); // within the default caps
  });

  it('reports a missing file as IMAGE_UNREADABLE', async () => {
    await rejectsWith(decodeImage(join(dir, 'nope.jpg'), SIZE), 'IMAGE_UNREADABLE');
    await rejectsWith(decodeImage(dir, SIZE), 'IMAGE_UNREADABLE');
  });

  it('gives identical pixels for the same file', async () => {
    const bytes = await sharp({
      create: {
        width: 50,
        height: 40,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 100, sigma: 40 },
      },
    })
      .jpeg()
      .toBuffer();
    const a = await decodeImage(bytes, SIZE);
    const b = await decodeImage(bytes, SIZE);
    assert.deepEqual(a.data, b.data);
  });
});
