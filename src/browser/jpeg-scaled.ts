/**
 * A big JPEG decoded straight at the reduced size the server's libjpeg decodes it at (sharp's
 * shrink-on-load: ½, ¼ or ⅛, by scaling in the DCT), through WebCodecs' ImageDecoder with a desired
 * size: a 1-megapixel photo in ~10 ms where createImageBitmap's full decode and the canvas's halving
 * took ~30, and a 12-megapixel one without decoding its 12 million pixels at all. Where the browser
 * has no ImageDecoder, cannot convert its frame to RGBA, or does not decode at exactly that size, the
 * caller decodes the whole photo instead (undefined here).
 *
 * How close to the server (bench/browser-decoding.ts): at ¼ and ⅛ (2000×1500 and 4032×3024 photos)
 * the server's very pixels, and captions. At ½ (1-MP photos) not to the level: on 300 Flickr8k dev
 * photos 1.82 levels off on average, the server's very caption on 107 (the canvas halving: 1.07, 117),
 * with captions that score as the server's do (CIDEr-D 58.5 against 57.2, BLEU-4 21.5 against 21.0;
 * the canvas halving 59.0 / 21.6): the beam search turns a level or two of difference into another,
 * as good, sentence about half the time. Not chroma: 4:4:4 JPEGs are as far off at ½ as 4:2:0 ones,
 * so Chromium's ½ decode itself differs from the libjpeg in sharp (its inverse DCT at that scale, or
 * however it reaches that size).
 */
import type { KeptArray } from '../util/kept-array.js';
import { browser, type VideoFrameLike } from './dom.js';
import type { Pixels } from './image.js';
import { jpegShrinkOnLoad } from './resample.js';

/** A JPEG's stored width and height (its frame header), or undefined when none is found. */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // no length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan data before any frame header
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    // SOF0-3, 5-7, 9-11, 13-15: [length][precision][height][width]
    const frame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (frame && at + 9 <= bytes.length) {
      const height = (bytes[at + 5] << 8) | bytes[at + 6];
      const width = (bytes[at + 7] << 8) | bytes[at + 8];
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    at += 2 + length;
  }
  return undefined;
}

/**
 * The JPEG's pixels (RGBA) at the size sharp's shrink-on-load decodes it at for an outW × outH output,
 * EXIF orientation applied; undefined when it would not shrink on load or this browser cannot do it
 * (see the file's comment). The pixels are written into arrays from `buffers` where given.
 */
export async function decodeJpegShrunk(
  bytes: Uint8Array,
  size: { width: number; height: number },
  outW: number,
  outH: number,
  buffers?: KeptArray<Uint8ClampedArray>,
): Promise<Pixels | undefined> {
  const Decoder = browser.ImageDecoder;
  const factor = jpegShrinkOnLoad(size.width, size.height, outW, outH);
  if (!Decoder || factor === 1) return undefined;
  const width = Math.ceil(size.width / factor);
  const height = Math.ceil(size.height / factor);
  let decoder;
  let frame: VideoFrameLike | undefined;
  try {
    decoder = new Decoder({ data: bytes, type: 'image/jpeg', desiredWidth: width, desiredHeight: height });
    frame = (await decoder.decode()).image;
    if (frame.codedWidth !== width || frame.codedHeight !== height) return undefined;
    // A browser whose frames do not say their EXIF turn (VideoFrame.rotation, Chromium 2024 on) may
    // not apply it either; mirrored orientations are left to the other path too.
    const rotation = frame.rotation;
    if (typeof rotation !== 'number' || frame.flip || rotation % 90 !== 0) return undefined;
    const data = buffers?.take(width * height * 4) ?? new Uint8ClampedArray(width * height * 4);
    await frame.copyTo(data, { format: 'RGBA', colorSpace: 'srgb' });
    return rotateClockwise({ data, width, height }, rotation, buffers);
  } catch {
    return undefined; // no RGBA conversion here, a JPEG it cannot read…: the whole-photo path decides
  } finally {
    frame?.close();
    decoder?.close();
  }
}

/**
 * RGBA pixels turned `degrees` (0, 90, 180, 270) clockwise, as a frame with that rotation is shown;
 * with `buffers`, into an array from there, and the image's own array given back to it.
 */
export function rotateClockwise(
  image: Pixels,
  degrees: number,
  buffers?: KeptArray<Uint8ClampedArray>,
): Pixels {
  const turns = (((degrees / 90) % 4) + 4) % 4;
  if (turns === 0) return image;
  const { data, width: w, height: h } = image;
  const [W, H] = turns === 2 ? [w, h] : [h, w];
  const out = buffers?.take(data.length) ?? new Uint8ClampedArray(data.length);
  const source = new Uint32Array(data.buffer, data.byteOffset, w * h);
  const target = new Uint32Array(out.buffer, 0, W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      // Where display pixel (x, y) is stored.
      const [sx, sy] = turns === 1 ? [y, h - 1 - x] : turns === 2 ? [w - 1 - x, h - 1 - y] : [w - 1 - y, x];
      target[y * W + x] = source[sy * w + sx];
    }
  buffers?.give(data);
  return { data: out, width: W, height: H };
}
