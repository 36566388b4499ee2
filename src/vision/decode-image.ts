import { open } from 'node:fs/promises';
import sharp from 'sharp';
import { CaptionerError, errnoCode } from '../util/errors.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';

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

const ascii = (bytes: Uint8Array, start: number, end: number) =>
  String.fromCharCode(...bytes.subarray(start, end));

/** The image format from the file's first bytes (never its name), or undefined. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length < 12) return undefined;
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(bytes, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 4) === 'II*\0' || ascii(bytes, 0, 4) === 'MM\0*') return 'tiff';
  if (ascii(bytes, 4, 8) === 'ftyp') {
    // ISO-BMFF: AVIF among the major and compatible brands of the ftyp box (HEIC is not decodable here).
    const boxSize = Math.min(
      ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0,
      bytes.length,
    );
    for (let at = 8; at + 4 <= boxSize; at += 4) {
      const brand = ascii(bytes, at, at + 4);
      if (brand === 'avif' || brand === 'avis') return 'avif';
    }
  }
  return undefined;
}

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
