import type { FastifyRequest } from 'fastify';
import { CaptionerError } from '../util/errors.js';

export interface Upload {
  bytes: Buffer;
  /** Form fields (multipart) merged over the query string. */
  params: Record<string, unknown>;
}

/**
 * The image of a caption request: the `image` part of a multipart form, or else the raw body (any other
 * content type is read as bytes; the type is sniffed from them later, never trusted from the header).
 */
export async function readUpload(request: FastifyRequest): Promise<Upload> {
  const params: Record<string, unknown> = { ...(request.query as Record<string, unknown>) };
  if (!request.isMultipart()) {
    const body = request.body;
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw new CaptionerError(
        'NO_IMAGE',
        'No image was sent: post a photo as the request body or as a form field named "image".',
      );
    }
    return { bytes: body, params };
  }
  let bytes: Buffer | undefined;
  const otherFiles: string[] = [];
  try {
    // parts() reads the whole form, so fields may come before or after the file.
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname === 'image' && bytes === undefined) bytes = await part.toBuffer();
        else {
          otherFiles.push(part.fieldname);
          part.file.resume(); // drain it, or the form never ends
        }
      } else {
        params[part.fieldname] = part.value;
      }
    }
  } catch (error) {
    // The plugin's own errors (file too large, too many parts) carry a status; busboy's do not.
    if (typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
    throw new CaptionerError('BAD_REQUEST', `The form could not be read (${(error as Error).message}).`, {
      cause: error,
    });
  }
  if (bytes === undefined) {
    const got = otherFiles.length > 0 ? ` (got a file in "${otherFiles[0]}")` : '';
    throw new CaptionerError(
      'NO_IMAGE',
      `No image was sent: put the photo in a form field named "image"${got}.`,
    );
  }
  return { bytes, params };
}
