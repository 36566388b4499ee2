import type { CaptionOptions, ModelCard } from '../pipeline/captioner-types.js';
import { CaptionerError } from '../util/errors.js';

export const DEFAULT_BEAM = 3;

/**
 * What a request asks for: beam and alternatives always; the decoding rules only when it turns one off or
 * on; `attention` only when it asks for it.
 */
export type CaptionParams = Required<Pick<CaptionOptions, 'beam' | 'alternatives'>> &
  Pick<CaptionOptions, 'blockTrigrams' | 'badEndings' | 'attention'>;

/**
 * `beam`, `alternatives`, `blockTrigrams`, `badEndings` and `attention` from the query string or form
 * fields (strings). Asking only for more alternatives widens the beam to fit; asking for both
 * inconsistently is a 400. The rules are on unless a request says `blockTrigrams=false` or
 * `badEndings=false`; `attention=1` (or true) asks for the weights of each word.
 */
export function parseCaptionParams(
  raw: {
    beam?: unknown;
    alternatives?: unknown;
    blockTrigrams?: unknown;
    badEndings?: unknown;
    attention?: unknown;
  },
  maxBeam: number,
): CaptionParams {
  const beamGiven = wholeNumber('beam', raw.beam, 1, maxBeam);
  const alternatives = wholeNumber('alternatives', raw.alternatives, 0, maxBeam - 1);
  const beam = beamGiven ?? Math.max(DEFAULT_BEAM, (alternatives ?? 0) + 1);
  if (alternatives !== undefined && alternatives > beam - 1) {
    throw new CaptionerError(
      'BAD_PARAM',
      `alternatives must be less than beam (beam ${beam} finds at most ${beam - 1} alternatives), got ${alternatives}.`,
    );
  }
  const params: CaptionParams = { beam, alternatives: alternatives ?? beam - 1 };
  const blockTrigrams = flag('blockTrigrams', raw.blockTrigrams);
  const badEndings = flag('badEndings', raw.badEndings);
  if (blockTrigrams !== undefined) params.blockTrigrams = blockTrigrams;
  if (badEndings !== undefined) params.badEndings = badEndings;
  if (flag('attention', raw.attention)) params.attention = true;
  return params;
}

/** Refuses `attention` for a model without attention: a 400 NO_ATTENTION, before any work. */
export function checkAttentionParam(params: CaptionParams, card: ModelCard): void {
  if (params.attention && !card.attention)
    throw new CaptionerError(
      'NO_ATTENTION',
      `attention=1 needs an attention model, and this server's model (${card.name}, architecture ${card.architecture}) has none: ask without attention.`,
    );
}

function wholeNumber(name: string, value: unknown, min: number, max: number): number | undefined {
  if (Array.isArray(value)) value = value[value.length - 1];
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CaptionerError(
      'BAD_PARAM',
      `${name} must be a whole number from ${min} to ${max}, got "${String(value)}".`,
    );
  }
  return n;
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function flag(name: string, value: unknown): boolean | undefined {
  if (Array.isArray(value)) value = value[value.length - 1];
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  throw new CaptionerError('BAD_PARAM', `${name} must be true or false, got "${String(value)}".`);
}
