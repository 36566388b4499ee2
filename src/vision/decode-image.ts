import { open } from 'node:fs/promises';
import sharp from 'sharp';
import { CaptionerError, errnoCode } from '../util/errors.js';
import { sniffImageFormat, type ImageFormat } from './sniff-image.js';

export { sniffImageFormat, type ImageFormat };

export interface DecodeOptions {
  /** Output size; the image is squashed to it (no crop, aspect not kept), as Keras `load_img` does. */
  width: number;
  height: number;
  /** Refuse images with more pixels than this (decompression bombs). Default 50 megapixels. */
  maxPixels?: number;
  /** Refuse files larger than this. Default 50 MB. */
  maxBytes?: number;
  /** Give up decoding after this many seconds. Default 10. */
  timeoutSeconds?: number;
}

/** 8-bit sRGB pixels, interleaved RGB, row-major, `width × height × 3` bytes. */
export interface DecodedImage {
  data: Buffer;
  width: number;
  height: number;
  format: ImageFormat;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;
export const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;

/** Reads a file for decoding, refusing (before reading it all) anything over the size cap. */
export async function readImageFile(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = errnoCode(error);
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : (error as Error).message;
    throw new CaptionerError('IMAGE_UNREADABLE', `${path}: ${why}`, { cause: error });
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes)
      throw new CaptionerError(
        'IMAGE_TOO_LARGE',
        `${path}: ${size} bytes is over the ${maxBytes}-byte limit`,
      );
    return await handle.readFile();
  } catch (error) {
    if (error instanceof CaptionerError) throw error;
    const why = errnoCode(error) === 'EISDIR' ? 'is a folder' : (error as Error).message;
    throw new CaptionerError('IMAGE_UNREADABLE', `${path}: ${why}`, { cause: error });
  } finally {
    await handle.close();
  }
}

/**
 * Decodes a JPEG, PNG, WebP, GIF (first frame), TIFF or AVIF into 8-bit sRGB at the given size: EXIF
 * orientation applied, alpha flattened on white, grayscale and CMYK converted. Errors are CaptionerErrors:
 * IMAGE_UNSUPPORTED (not an image we decode), IMAGE_CORRUPT (truncated or broken), IMAGE_TOO_LARGE
 * (file, pixel count or decode time over the caps), IMAGE_UNREADABLE (the file cannot be read).
 */
export async function decodeImage(
  input: string | Buffer | Uint8Array,
  options: DecodeOptions,
): Promise<DecodedImage> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const label = typeof input === 'string' ? input : 'image';
  const bytes = typeof input === 'string' ? await readImageFile(input, maxBytes) : input;
  if (bytes.length > maxBytes)
    throw new CaptionerError(
      'IMAGE_TOO_LARGE',
      `${label}: ${bytes.length} bytes is over the ${maxBytes}-byte limit`,
    );
  const format = sniffImageFormat(bytes);
  if (!format)
    throw new CaptionerError(
      'IMAGE_UNSUPPORTED',
      `${label}: not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF)`,
    );
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const timeout = options.timeoutSeconds ?? 10;
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', pages: 1 })
      .timeout({ seconds: timeout })
      .rotate()
      .resize(options.width, options.height, { fit: 'fill' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== options.width * options.height * 3)
      throw new CaptionerError(
        'IMAGE_CORRUPT',
        `${label}: decoded to ${info.channels} channels, expected RGB`,
      );
    return { data, width: info.width, height: info.height, format };
  } catch (error) {
    if (error instanceof CaptionerError) throw error;
    const message = (error as Error).message ?? String(error);
    if (/pixel limit/i.test(message))
      throw new CaptionerError('IMAGE_TOO_LARGE', `${label}: more than ${maxPixels} pixels`, {
        cause: error,
      });
    if (/timeout/i.test(message))
      throw new CaptionerError('IMAGE_TOO_LARGE', `${label}: decoding took longer than ${timeout} s`, {
        cause: error,
      });
    const firstLine = message.split('\n')[0].trim();
    throw new CaptionerError('IMAGE_CORRUPT', `${label}: corrupt or truncated ${format} (${firstLine})`, {
      cause: error,
    });
  }
}
