/**
 * What decoding (greedy, beam search) needs from a trained model, whatever its architecture:
 * start from images, feed one token per row, get log-probabilities, reorder rows between steps.
 */

/** Opaque per-architecture state, one row per (image, beam). */
export interface DecoderState {
  readonly rows: number;
}

export interface StepResult {
  logProbs: Float32Array;
  state: DecoderState;
}

export interface StepDecoder {
  readonly vocabSize: number;
  /** State for a batch of images (pooled features, one Float32Array each). */
  start(images: Float32Array[]): Promise<DecoderState>;
  /**
   * Feeds one token per row; resolves to log-probabilities (rows × vocabSize, row-major) and the next
   * state. Asynchronous because a runtime (onnxruntime) may run it off the caller's turn.
   */
  step(state: DecoderState, tokens: Int32Array): Promise<StepResult>;
  /** New state whose row i is row `rows[i]` of `state` (beam reordering / expansion). */
  select(state: DecoderState, rows: Int32Array): DecoderState;
  dispose(): void;
}
