import type { DecoderState, StepDecoder } from '../model/step-decoder.js';

/**
 * After a step, the rows still writing: their state (the stepped state narrowed to them) and the
 * tokens they feed next, their last words. Finished rows leave the batch, so later steps get cheaper.
 * Greedy search and sampling share it; `keep` lists the running rows' indices, in order.
 */
export function keepRunning<R extends { words: number[] }>(
  decoder: StepDecoder,
  stepped: DecoderState,
  running: readonly R[],
  keep: readonly number[],
): { state: DecoderState; tokens: Int32Array<ArrayBuffer>; running: R[] } {
  const next = keep.map((row) => running[row]);
  return {
    state: keep.length === running.length ? stepped : decoder.select(stepped, Int32Array.from(keep)),
    tokens: Int32Array.from(next, (r) => r.words[r.words.length - 1]),
    running: next,
  };
}
