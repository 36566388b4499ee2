import sharp, { type Metadata } from 'sharp';
import { CaptionerError } from '../util/errors.js';
import { sniffImageFormat, type ImageFormat } from '../vision/decode-image.js';

/**
 * The server's front door: the type is sniffed from the bytes (never the Content-Type or file name) and
 * the pixel count read from the header, so a non-image or a decompression bomb is refused before it
 * waits in the queue or gets decoded. Corrupt pixel data behind a good header is found by the captioner.
 */
export async function checkImage(bytes: Buffer, maxPixels: number): Promise<{ format: ImageFormat }> {
  if (bytes.length === 0) throw new CaptionerError('NO_IMAGE', 'The upload is empty: send a photo.');
  let metadata: Metadata;
  try {
    // limitInputPixels: false — the pixel cap below gives the user-facing error instead of sharp's.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    const message = (error as Error).message ?? '';
    if (/unsupported image format/i.test(message)) throw notAnImage();
    throw new CaptionerError('IMAGE_CORRUPT', 'The image is damaged or cut short and cannot be read.', {
      cause: error,
    });
  }
  // The decoder's own sniffing decides, so the two agree (sharp names AVIF "heif", as it does HEIC,
  // which the decoder refuses).
  const format = sniffImageFormat(bytes);
  if (!format) throw notAnImage(metadata.format);
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0);
  if (pixels > maxPixels) {
    throw new CaptionerError(
      'IMAGE_TOO_LARGE',
      `The image is ${metadata.width}×${metadata.height} pixels; the limit is ${formatMegapixels(maxPixels)}.`,
    );
  }
  if (pixels === 0) throw new CaptionerError('IMAGE_CORRUPT', 'The image has no pixels.');
  return { format };
}

function notAnImage(format?: string): CaptionerError {
  const what = format ? `a ${format.toUpperCase()} file, which is not supported` : 'not an image';
  return new CaptionerError(
    'IMAGE_UNSUPPORTED',
    `The upload is ${what}. Send a JPEG, PNG, WebP, GIF, AVIF or TIFF photo.`,
  );
}

function formatMegapixels(pixels: number): string {
  return `${+(pixels / 1_000_000).toFixed(1)} megapixels`;
}
