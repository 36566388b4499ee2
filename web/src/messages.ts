import type { ErrorBody } from '../../src/serve/error-body.js';

/**
 * What the page says when captioning fails: a sentence for a person, never a code. The server's own
 * message is used where it already is one that helps (it names sizes and limits).
 */
export function errorSentence(status: number, body: ErrorBody | undefined, maxUploadBytes?: number): string {
  const code = body?.error.code;
  switch (code) {
    case 'IMAGE_UNSUPPORTED':
      return "That file isn't a photo that can be read here. Try a JPEG, PNG, WebP, GIF, AVIF or TIFF image.";
    case 'IMAGE_CORRUPT':
      return 'That photo seems to be damaged or incomplete, so it cannot be read. Try saving it again, or pick another one.';
    case 'UPLOAD_TOO_LARGE':
      return maxUploadBytes
        ? `That file is too big: the limit is ${formatSize(maxUploadBytes)}. Try a smaller copy of the photo.`
        : 'That file is too big. Try a smaller copy of the photo.';
    case 'IMAGE_TOO_LARGE':
      return `${body?.error.message ?? 'That photo has too many pixels.'} Try a smaller copy of it.`;
    case 'OVERLOADED':
    case 'SHUTTING_DOWN':
      return 'The server is busy with other photos right now. Please try again in a moment.';
    case 'NO_IMAGE':
      return 'No photo arrived at the server. Please choose the photo again.';
    case 'BAD_PARAM':
      return body?.error.message ?? 'One of the settings was not accepted.';
    case 'INTERNAL':
      return 'Something went wrong on the server while captioning this photo. Please try again.';
  }
  if (status === 503) return 'The server is busy or restarting. Please try again in a moment.';
  if (status === 413) return 'That file is too big. Try a smaller copy of the photo.';
  return `The server could not caption this photo (it answered with status ${status}). Please try again.`;
}

export const OFFLINE_SENTENCE =
  'The server cannot be reached. Check that it is still running and that you are online, then try again.';

export function formatSize(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return mb >= 1 ? `${+mb.toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} kB`;
}
