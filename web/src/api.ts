import type { CaptionResult, ModelCard } from '../../src/pipeline/captioner-types.js';
import type { ErrorBody } from '../../src/serve/error-body.js';
import { errorSentence, OFFLINE_SENTENCE } from './messages.js';

export type CaptionResponse = CaptionResult & { timings: CaptionResult['timings'] & { queueMs?: number } };

export interface Limits {
  maxUploadBytes: number;
  maxPixels: number;
  maxBeam: number;
}

/** A failed request, with the sentence to show. */
export class ApiError extends Error {}

/** `attention`: also ask where the model looked for each word (attention models only). */
export async function captionPhoto(
  file: Blob,
  beam: number,
  limits?: Limits,
  attention = false,
): Promise<CaptionResponse> {
  const form = new FormData();
  form.append('image', file);
  let res: Response;
  try {
    const query = `beam=${beam}${attention ? '&attention=1' : ''}`;
    res = await fetch(`/api/caption?${query}`, { method: 'POST', body: form });
  } catch {
    throw new ApiError(OFFLINE_SENTENCE);
  }
  const body = await res.json().catch(() => undefined);
  if (!res.ok)
    throw new ApiError(errorSentence(res.status, body as ErrorBody | undefined, limits?.maxUploadBytes));
  if (!body || typeof (body as CaptionResponse).caption !== 'string') {
    throw new ApiError('The server gave an answer this page does not understand. Please reload the page.');
  }
  return body as CaptionResponse;
}

export async function fetchJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url);
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

export type { ModelCard };
