import { checkImage } from '../serve/check-image.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import { readImageFile } from '../vision/decode-image.js';
import { isUrl } from './jobs.js';

export interface PhotoLimits {
  /** Largest photo, in bytes (a file or a download). */
  maxBytes: number;
  /** Largest photo, in pixels, read from its header before decoding. */
  maxPixels: number;
  /** Longest a download may take, headers and body, in ms. */
  timeoutMs: number;
}

export const DEFAULT_PHOTO_LIMITS: PhotoLimits = {
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 50_000_000,
  timeoutMs: 30_000,
};

/**
 * Failures worth another try later: a download that timed out or broke off, a server that is down or
 * asks to slow down, a file system that hiccuped. Anything else about a photo (missing, not an image,
 * corrupt, too large) fails at once.
 */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'FETCH_TIMEOUT',
  'FETCH_FAILED',
  'FETCH_UNAVAILABLE',
  'FILE_UNAVAILABLE',
]);

/** Permanent errno codes of reading a file (others, such as EIO or ESTALE, may pass). */
const PERMANENT_ERRNO = new Set(['ENOENT', 'EISDIR', 'EACCES', 'EPERM', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG']);

/**
 * A job's photo as bytes, checked as the server checks uploads: the format sniffed from the bytes
 * (never the name or Content-Type), the pixel count from the header. Errors are CaptionerErrors whose
 * code says whether to retry (TRANSIENT_CODES).
 */
export async function loadPhoto(image: string, limits: PhotoLimits = DEFAULT_PHOTO_LIMITS): Promise<Buffer> {
  const bytes = isUrl(image) ? await download(image, limits) : await readFile(image, limits.maxBytes);
  await checkImage(bytes, limits.maxPixels);
  return bytes;
}

async function readFile(path: string, maxBytes: number): Promise<Buffer> {
  try {
    return await readImageFile(path, maxBytes);
  } catch (error) {
    const code = errnoCode((error as Error).cause);
    if (code && !PERMANENT_ERRNO.has(code))
      throw new CaptionerError('FILE_UNAVAILABLE', (error as Error).message, { cause: error });
    throw error;
  }
}

async function download(url: string, { maxBytes, timeoutMs }: PhotoLimits): Promise<Buffer> {
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = () =>
    new CaptionerError('FETCH_TIMEOUT', `${url}: no complete answer within ${timeoutMs / 1000} s`);
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow', headers: { accept: 'image/*' } });
  } catch (error) {
    if (signal.aborted) throw timedOut();
    const cause = (error as Error).cause as Error | undefined;
    throw new CaptionerError('FETCH_FAILED', `${url}: ${cause?.message ?? (error as Error).message}`, {
      cause: error,
    });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    const { status } = response;
    const transient = status === 408 || status === 429 || status >= 500;
    throw new CaptionerError(
      transient
        ? 'FETCH_UNAVAILABLE'
        : status === 404 || status === 410
          ? 'PHOTO_NOT_FOUND'
          : 'FETCH_REFUSED',
      `${url}: the server answered ${status} ${response.statusText}`.trim(),
    );
  }
  const tooLarge = (size: number | string) =>
    new CaptionerError('IMAGE_TOO_LARGE', `${url}: ${size} bytes is over the ${maxBytes}-byte limit`);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw tooLarge(declared);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.byteLength;
      if (size > maxBytes) throw tooLarge(`more than ${maxBytes}`); // leaving the loop cancels the body
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof CaptionerError) throw error;
    if (signal.aborted) throw timedOut();
    throw new CaptionerError('FETCH_FAILED', `${url}: the download broke off (${(error as Error).message})`, {
      cause: error,
    });
  }
  return Buffer.concat(chunks);
}
