import { CaptionerError } from '../util/errors.js';
import type { CaptionOptions, CaptionResult, ModelCard } from './captioner-types.js';

/** What a CaptionerPool and its worker threads say to each other (structured clone: plain data only). */

/** Caption these images (paths, or encoded bytes moved to the worker) with these options. */
export interface PoolRequest {
  id: number;
  inputs: (string | Uint8Array)[];
  options: CaptionOptions;
}

/** An error as data: a CaptionerError keeps its code across the thread boundary. */
export interface SerializedError {
  message: string;
  code?: string;
}

export type PoolReply =
  | { ready: ModelCard }
  | { failed: SerializedError }
  | { id: number; results: (CaptionResult | { error: SerializedError })[] }
  | { id: number; error: SerializedError };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof CaptionerError) return { message: error.message, code: error.code };
  return { message: error instanceof Error ? error.message : String(error) };
}

export function deserializeError(error: SerializedError): Error {
  return error.code ? new CaptionerError(error.code, error.message) : new Error(error.message);
}
