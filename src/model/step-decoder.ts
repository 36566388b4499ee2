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
  /** Attention models: where each row looked at this step, rows × regions (each row sums to 1). */
  attention?: Float32Array;
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

/** One rows × dim array of the images' vectors, refusing a vector of another length. */
export function packRows(images: Float32Array[], dim: number): Float32Array {
  const out = new Float32Array(images.length * dim);
  images.forEach((v, r) => {
    if (v.length !== dim) throw new Error(`image vector has ${v.length} values, the model reads ${dim}`);
    out.set(v, r * dim);
  });
  return out;
}

/** Rows `rows` of a total × width array, in that order (what `select` does to each state tensor). */
export function pickRows(src: Float32Array, width: number, total: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    if (r < 0 || r >= total) throw new Error(`select: row ${r} of ${total}`);
    out.set(src.subarray(r * width, (r + 1) * width), i * width);
  });
  return out;
}

/** Refuses a step whose tokens do not match the state's rows or fall outside the vocabulary. */
export function checkStepTokens(tokens: Int32Array, rows: number, vocabSize: number): void {
  if (tokens.length !== rows) throw new Error(`step: ${tokens.length} tokens for ${rows} rows`);
  for (const t of tokens)
    if (t < 0 || t >= vocabSize) throw new Error(`step: token ${t} outside the vocabulary`);
}
