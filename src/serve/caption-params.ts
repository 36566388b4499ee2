import type { CaptionOptions } from '../pipeline/captioner-types.js';
import { CaptionerError } from '../util/errors.js';

export const DEFAULT_BEAM = 3;

/**
 * `beam` and `alternatives` from the query string or form fields (strings). Asking only for more
 * alternatives widens the beam to fit; asking for both inconsistently is a 400.
 */
export function parseCaptionParams(
  raw: { beam?: unknown; alternatives?: unknown },
  maxBeam: number,
): Required<Pick<CaptionOptions, 'beam' | 'alternatives'>> {
  const beamGiven = wholeNumber('beam', raw.beam, 1, maxBeam);
  const alternatives = wholeNumber('alternatives', raw.alternatives, 0, maxBeam - 1);
  const beam = beamGiven ?? Math.max(DEFAULT_BEAM, (alternatives ?? 0) + 1);
  if (alternatives !== undefined && alternatives > beam - 1) {
    throw new CaptionerError(
      'BAD_PARAM',
      `alternatives must be less than beam (beam ${beam} finds at most ${beam - 1} alternatives), got ${alternatives}.`,
    );
  }
  return { beam, alternatives: alternatives ?? beam - 1 };
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
