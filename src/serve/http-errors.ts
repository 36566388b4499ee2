import type { FastifyError } from 'fastify';
import { isCaptionerError } from '../util/errors.js';
import type { ErrorBody } from './error-body.js';

/** HTTP status of each user-facing error code (the vision stage's codes and the server's own). */
const STATUS_BY_CODE: Record<string, number> = {
  NO_IMAGE: 400,
  BAD_PARAM: 400,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  UPLOAD_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
  IMAGE_UNSUPPORTED: 415,
  IMAGE_CORRUPT: 422,
  OVERLOADED: 503,
  SHUTTING_DOWN: 503,
};

/** Codes for the errors Fastify and its plugins raise themselves, by status. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  413: 'UPLOAD_TOO_LARGE',
  415: 'IMAGE_UNSUPPORTED',
  503: 'OVERLOADED',
};

export interface HttpError {
  status: number;
  body: ErrorBody;
}

/**
 * Turns anything thrown while answering into a status and a JSON body. A CaptionerError keeps its code
 * and message; Fastify's own client errors (body too large, bad multipart) get a code and a sentence;
 * anything else is a bug: 500 with a generic message, so no stack or internals reach the client.
 */
export function toHttpError(error: unknown, maxUploadBytes: number): HttpError {
  if (isCaptionerError(error)) {
    const status = STATUS_BY_CODE[error.code] ?? (error.code.startsWith('IMAGE_') ? 422 : 400);
    return { status, body: { error: { code: error.code, message: error.message } } };
  }
  const status = (error as FastifyError | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = CODE_BY_STATUS[status] ?? 'BAD_REQUEST';
    return {
      status,
      body: { error: { code, message: clientMessage(code, error as FastifyError, maxUploadBytes) } },
    };
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'Something went wrong on the server while captioning.' } },
  };
}

function clientMessage(code: string, error: FastifyError, maxUploadBytes: number): string {
  switch (code) {
    case 'UPLOAD_TOO_LARGE':
      return `The upload is larger than the ${formatMb(maxUploadBytes)} limit.`;
    case 'IMAGE_UNSUPPORTED':
      return 'The upload is not an image.';
    case 'NOT_FOUND':
      return 'There is nothing at this address.';
    default:
      // Fastify's client-error messages (malformed multipart, bad header) are safe and specific.
      return error.message || 'The request could not be understood.';
  }
}

export function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}
