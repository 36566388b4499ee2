import { CaptionerError } from '../util/errors.js';
import { KeptArray } from '../util/kept-array.js';
import { sniffImageFormat, type ImageFormat } from '../vision/sniff-image.js';
import { browser, makeCanvas, type DrawableImage, type ImageBitmapLike } from './dom.js';
import { decodeJpegShrunk, jpegSize } from './jpeg-scaled.js';
import { jpegShrinkOnLoad, resampleLanczos3 } from './resample.js';

/** What the browser captioner takes: a file or blob of an image, or anything a canvas can draw. */
export type ImageSource = Blob | DrawableImage;

/**
 * How a photo is squashed to the network's size in the browser:
 * - 'lanczos3' (default): the decoded photo's pixels resampled by the same separable Lanczos-3 filter
 *   the server's libvips uses (src/browser/resample.ts): the closest to the server's input.
 * - 'canvas': the canvas's own high-quality drawImage scaling; faster on big photos, but the browser's
 *   filter (Chromium: mipmaps and linear filtering) blurs more than Lanczos.
 */
export type Resampling = 'lanczos3' | 'canvas';

export interface Pixels {
  /** RGBA, width × height × 4, alpha 255 (flattened on white). */
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

export interface PhotoPixelsOptions {
  resampling?: Resampling;
  /** Refused above this many pixels (default 50 million), before decoding where the format says. */
  maxPixels?: number;
  /** Where the result's array comes from (give it back once read); default: a new array. */
  out?: KeptArray<Uint8ClampedArray>;
}

// A photo's pixels as decoded at its shrunk size (a megabyte or more): kept for the next photo (two:
// the decoded frame and its turned copy).
const decodedPixels = new KeptArray(Uint8ClampedArray, 2);

/**
 * A photo → its 8-bit sRGB pixels squashed to width × height, transparency flattened on white, EXIF
 * orientation applied: the input the server's preprocessing (sharp) gives the encoder.
 */
export async function photoPixels(
  source: ImageSource,
  [height, width]: [number, number],
  { resampling = 'lanczos3', maxPixels = 50_000_000, out }: PhotoPixelsOptions = {},
): Promise<Pixels> {
  const decoded = await decode(source, resampling === 'lanczos3' ? [width, height] : undefined, maxPixels);
  if ('pixels' in decoded) {
    const shrunk = decoded.pixels;
    const data = resampleLanczos3(shrunk.data, shrunk.width, shrunk.height, width, height, {
      into: out?.take(width * height * 4),
    });
    decodedPixels.give(shrunk.data);
    return { data, width, height };
  }
  const { bitmap, format } = decoded;
  try {
    checkSize(bitmap.width * bitmap.height, maxPixels);
    if (resampling === 'canvas' || (bitmap.width === width && bitmap.height === height))
      return draw(bitmap, width, height, width, height);
    // sharp decodes a big JPEG at a half, quarter or eighth of its size (libjpeg's DCT scaling). Where
    // the browser could not decode it at that size (decode, jpeg-scaled.ts), the canvas halves the whole
    // photo as many times (bilinear at exactly ½: the average of each 2×2 block), within a level or two
    // of libjpeg, and most of the work is saved.
    const shrink = format === 'jpeg' ? jpegShrinkOnLoad(bitmap.width, bitmap.height, width, height) : 1;
    let full = halve(bitmap, shrink);
    // On white, then the Lanczos filter in JS.
    full ??= draw(bitmap, bitmap.width, bitmap.height, bitmap.width, bitmap.height);
    const data = resampleLanczos3(full.data, full.width, full.height, width, height, {
      into: out?.take(width * height * 4),
    });
    return { data, width, height };
  } finally {
    if (bitmap !== source && 'close' in bitmap) (bitmap as ImageBitmapLike).close();
  }
}

function checkSize(pixels: number, maxPixels: number): void {
  if (pixels > maxPixels)
    throw new CaptionerError('IMAGE_TOO_LARGE', `the photo has ${pixels} pixels, more than ${maxPixels}`);
}

/**
 * The image decoded (a Blob, its format sniffed) or as given (anything drawable); a big JPEG to be
 * squashed to `target` ([width, height]), already shrunk as the server's decoder shrinks it where the
 * browser can (jpeg-scaled.ts).
 */
async function decode(
  source: ImageSource,
  target: [number, number] | undefined,
  maxPixels: number,
): Promise<{ bitmap: DrawableImage; format?: ImageFormat } | { pixels: Pixels }> {
  if (!isBlob(source)) {
    if (!(source.width > 0 && source.height > 0))
      throw new CaptionerError('IMAGE_CORRUPT', 'the image has no pixels (not loaded yet?)');
    return { bitmap: source };
  }
  if (!browser.createImageBitmap)
    throw new CaptionerError('UNSUPPORTED', 'this browser has no createImageBitmap');
  // The whole file read into memory first, then decoded from there: in a bare Chromium page a picked
  // 1-MP JPEG decodes a little faster so (9.7 ms with the read against 13.9 decoding the file itself;
  // in the captioner's page the difference is within its noise), and the format is sniffed from the
  // same bytes, without a second read through the browser's file backend, so a file that is no image
  // is refused before any decoding.
  const bytes = new Uint8Array(await source.arrayBuffer());
  const format = sniffImageFormat(bytes.subarray(0, 64));
  if (!format)
    throw new CaptionerError(
      'IMAGE_UNSUPPORTED',
      'not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF)',
    );
  const size = format === 'jpeg' && target ? jpegSize(bytes) : undefined;
  if (size && target) {
    checkSize(size.width * size.height, maxPixels); // before decoding any of it
    const pixels = await decodeJpegShrunk(bytes, size, ...target, decodedPixels);
    if (pixels) return { pixels };
  }
  try {
    const bitmap = await browser.createImageBitmap(new Blob([bytes], { type: source.type }), {
      imageOrientation: 'from-image',
      premultiplyAlpha: 'default',
      colorSpaceConversion: 'default',
    });
    return { bitmap, format };
  } catch (error) {
    throw new CaptionerError(
      'IMAGE_CORRUPT',
      'the image is corrupt or truncated, or this browser cannot decode it',
      { cause: error },
    );
  }
}

function isBlob(source: ImageSource): source is Blob {
  return typeof Blob !== 'undefined' && source instanceof Blob;
}

/** The image shrunk `factor` times (1, 2, 4 or 8) by successive halvings on a canvas; undefined for 1. */
function halve(image: DrawableImage, factor: number): Pixels | undefined {
  if (factor <= 1) return undefined;
  let source: DrawableImage = image;
  let { width, height } = image;
  for (let f = factor; f > 1; f /= 2) {
    const w = Math.ceil(width / 2);
    const h = Math.ceil(height / 2);
    const canvas = makeCanvas(w, h);
    const ctx = canvas.getContext('2d', { willReadFrequently: f === 2, alpha: false });
    if (!ctx) throw new CaptionerError('UNSUPPORTED', 'this browser gives no 2D canvas');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, w, h);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'low'; // plain bilinear: no mipmaps, no bicubic
    ctx.drawImage(source, 0, 0, w, h);
    if (f === 2) {
      const { data } = ctx.getImageData(0, 0, w, h);
      return { data, width: w, height: h };
    }
    source = canvas as unknown as DrawableImage;
    width = w;
    height = h;
  }
  return undefined;
}

/** The image drawn at dw × dh on a white w × h canvas, read back. */
function draw(image: DrawableImage, w: number, h: number, dw: number, dh: number): Pixels {
  const canvas = makeCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
  if (!ctx) throw new CaptionerError('UNSUPPORTED', 'this browser gives no 2D canvas');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, 0, 0, dw, dh);
  const { data } = ctx.getImageData(0, 0, w, h);
  return { data, width: w, height: h };
}
