import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beamSearchReranked, type ConsensusIndex, type ConsensusSettings } from '../decode/consensus.js';
import { readConsensusIndex } from '../model/consensus-file.js';
import type { IntegerProducts } from '../graph/passes.js';
import { inputShape } from '../model/architecture.js';
import { defaultMaxLength } from '../decode/caption-rules.js';
import { loadModel, type LoadedModel } from '../model/model-folder.js';
import { openDecoder } from '../model/open-decoder.js';
import type { StepDecoder } from '../model/step-decoder.js';
import { CaptionerError } from '../util/errors.js';
import { KeptArray } from '../util/kept-array.js';
import { loadEncoder, type ImageEncoder } from '../vision/encoder.js';
import type { DecodedImage } from '../vision/decode-image.js';
import {
  CAPTION_CHUNK,
  type CaptionOptions,
  type CaptionResult,
  type Captioner,
  type ImageInput,
  type ModelCard,
} from './captioner-types.js';
import { captionAlternatives } from './alternatives.js';
import { readModelCard } from './model-card.js';
import { wordAttention } from './word-attention.js';

export interface LoadCaptionerOptions {
  /** Model folder; default the bundled `models/default`. */
  model?: string;
  /** Encoder name or .onnx path; default the one the model was trained on. */
  encoder?: string;
  /** Threads for the encoder (default: all cores). */
  threads?: number;
  /** Length normalisation α for beam search (default: the model folder's `decoding`, else 0). */
  lengthPenalty?: number;
  /**
   * Multiply with the model's int8 weights in integers, quantizing the activations (faster, slightly
   * different numbers; default: the model folder's `decoding`, else off). A list of parameter names:
   * only the products with those weights ("output.kernel": the output layer).
   */
  integerProducts?: IntegerProducts;
  /**
   * Consensus reranking with the model folder's index (`consensus.bin`, written by `captioner
   * consensus`): on by default where the folder has one; false turns it off, settings override the
   * index's own (k, weight).
   */
  consensus?: boolean | Partial<ConsensusSettings>;
}

/** The bundled model, found beside src/ or dist/ (both are one level below the package root). */
export function defaultModelDir(): string {
  return fileURLToPath(new URL('../../models/default', import.meta.url));
}

/**
 * Loads a model folder and the encoder it was trained on, and returns a captioner: image in, sentence
 * out. The encoder must be the model's own (same sha256): features of another CNN mean nothing to it.
 */
export async function loadCaptioner(options: LoadCaptionerOptions = {}): Promise<Captioner> {
  const dir = resolve(options.model ?? defaultModelDir());
  if (!existsSync(dir)) throw new CaptionerError('MODEL_NOT_FOUND', `model folder not found: ${dir}`);
  const model = await loadModel(dir);
  const expected = model.config.encoder;
  if (!expected && !options.encoder)
    throw new CaptionerError(
      'MODEL_INVALID',
      `model ${dir} records no encoder (trained on synthetic features?)`,
    );
  const encoder = await loadEncoder(options.encoder ?? expected!.name, { threads: options.threads });
  if (expected && encoder.identity.sha256 !== expected.sha256) {
    await encoder.dispose();
    throw new CaptionerError(
      'ENCODER_MISMATCH',
      `model ${dir} was trained on ${expected.name} (sha256 ${expected.sha256.slice(0, 12)}…), but the encoder given is ${encoder.identity.name} (${encoder.identity.sha256.slice(0, 12)}…)`,
    );
  }
  let decoder: StepDecoder;
  try {
    decoder = await openDecoder(model, { integerProducts: options.integerProducts });
  } catch (error) {
    await encoder.dispose();
    throw error;
  }
  let consensus: ConsensusIndex | undefined;
  try {
    consensus = await loadConsensus(dir, expected?.sha256, options.consensus);
  } catch (error) {
    decoder.dispose();
    await encoder.dispose();
    throw error;
  }
  const grid = attentionGrid(decoder, encoder);
  const card = await readModelCard(model, { attention: grid !== undefined, consensus });
  return new PipelineCaptioner(
    model,
    decoder,
    encoder,
    card,
    grid,
    {
      lengthPenalty: options.lengthPenalty ?? model.config.decoding?.lengthPenalty ?? 0,
      maxLength: defaultMaxLength(model.config.maxCaptionLength),
    },
    consensus,
  );
}

/** The model folder's consensus index, with the caller's settings; undefined when off or absent. */
export async function loadConsensus(
  modelDir: string,
  encoderSha256: string | undefined,
  option: LoadCaptionerOptions['consensus'],
): Promise<ConsensusIndex | undefined> {
  if (option === false) return undefined;
  const read = await readConsensusIndex(modelDir, encoderSha256);
  const index = read && option !== undefined && option !== true ? read.withSettings(option) : read;
  // Now, while loading, rather than in the first photo's time.
  index?.prepare();
  return index;
}

class PipelineCaptioner implements Captioner {
  private disposed = false;
  /** Work under way: dispose waits for it rather than pull the encoder from under it. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The encoder's input, kept from one request to the next (see KeptArray). */
  private readonly batches = new KeptArray(Float32Array);

  constructor(
    private readonly model: LoadedModel,
    private readonly decoder: StepDecoder,
    private readonly encoder: ImageEncoder,
    readonly card: ModelCard,
    /** [rows, columns] of the regions an attention model looks at; undefined for other models. */
    private readonly grid: [number, number] | undefined,
    private readonly defaults: { lengthPenalty: number; maxLength: number },
    /** The model folder's consensus index (consensus.bin), if it has one and it is not turned off. */
    private readonly consensus?: ConsensusIndex,
  ) {}

  async caption(input: ImageInput, options: CaptionOptions = {}): Promise<CaptionResult> {
    const [result] = await this.captionMany([input], options);
    if ('error' in result) throw result.error;
    return result;
  }

  async captionMany(
    inputs: ImageInput[],
    options: CaptionOptions = {},
  ): Promise<(CaptionResult | { error: Error })[]> {
    if (this.disposed) throw new CaptionerError('DISPOSED', 'this captioner has been disposed');
    if (options.attention && !this.grid)
      throw new CaptionerError(
        'NO_ATTENTION',
        `model ${this.card.name} (architecture ${this.card.architecture}) has no attention, so it cannot show where it looked: use an attention model (captioner train --arch attention)`,
      );
    const work = this.captionAll(inputs, options);
    this.inFlight.add(work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  private async captionAll(
    inputs: ImageInput[],
    options: CaptionOptions,
  ): Promise<(CaptionResult | { error: Error })[]> {
    // Chunks bound the memory of decoded images and of the encoder's batch.
    const results: (CaptionResult | { error: Error })[] = [];
    for (let start = 0; start < inputs.length; start += CAPTION_CHUNK)
      results.push(...(await this.captionChunk(inputs.slice(start, start + CAPTION_CHUNK), options)));
    return results;
  }

  private async captionChunk(
    inputs: ImageInput[],
    options: CaptionOptions,
  ): Promise<(CaptionResult | { error: Error })[]> {
    const beam = options.beam ?? 3;
    const wanted = Math.min(beam, (options.alternatives ?? beam - 1) + 1);
    const t0 = performance.now();
    const decoded = await Promise.allSettled(inputs.map((input) => this.encoder.decode(input)));
    const t1 = performance.now();
    const ok: { index: number; image: DecodedImage }[] = [];
    decoded.forEach((d, index) => d.status === 'fulfilled' && ok.push({ index, image: d.value }));
    const [h, w] = this.encoder.identity.inputSize;
    const results: (CaptionResult | { error: Error })[] = decoded.map((d) =>
      d.status === 'rejected' ? { error: d.reason as Error } : { error: new Error('not captioned') },
    );
    if (ok.length === 0) return results;
    const batch = this.batches.take(ok.length * 3 * h * w);
    ok.forEach(({ image }, slot) => this.encoder.fill(image, batch, slot));
    const { features, pooled } = await encodeBatch(this.encoder, batch, ok.length, readsSpatial(this.model));
    this.batches.give(batch);
    const t2 = performance.now();
    const consensus = options.consensus === false ? undefined : this.consensus;
    const captions = await beamSearchReranked(
      this.decoder,
      features,
      this.model.vocabulary,
      {
        beam,
        results: wanted,
        maxLength: options.maxLength ?? this.defaults.maxLength,
        lengthPenalty: this.defaults.lengthPenalty,
        blockTrigrams: options.blockTrigrams ?? true,
        badEndings: options.badEndings ?? true,
        exhaustive: options.exhaustive,
      },
      consensus && { index: consensus, pooled },
    );
    const t3 = performance.now();
    // A batch shares its time: each image is charged its share, so sums stay honest.
    const n = ok.length;
    const timings = {
      decodeMs: round((t1 - t0) / n),
      encodeMs: round((t2 - t1) / n),
      generateMs: round((t3 - t2) / n),
      totalMs: round((t3 - t0) / n),
    };
    ok.forEach(({ index }, i) => {
      const alternatives = captionAlternatives(captions[i]);
      const result: CaptionResult = { caption: alternatives[0]?.text ?? '', alternatives, timings };
      const best = captions[i][0];
      if (options.attention && this.grid) {
        result.attention = best?.attention
          ? wordAttention(best.tokens, best.attention, this.model.vocabulary)
          : [];
        result.attentionGrid = this.grid;
      }
      results[index] = result;
    });
    return results;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([...this.inFlight]);
    this.decoder.dispose();
    await this.encoder.dispose();
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * The [rows, columns] grid of regions an attention decoder looks at: the encoder's spatial map, whose
 * H·W must be the decoder's regions. Undefined for a decoder without attention.
 */
function attentionGrid(decoder: StepDecoder, encoder: ImageEncoder): [number, number] | undefined {
  const regions = (decoder as { readonly regions?: number }).regions;
  if (!regions) return undefined;
  const [, h, w] = encoder.spatialDims ?? [0, 0, 0];
  // Not a map of this encoder (should not happen: the model reads it); a square grid if one fits.
  if (h * w !== regions) {
    const side = Math.round(Math.sqrt(regions));
    return side * side === regions ? [side, side] : [1, regions];
  }
  return [h, w];
}

/**
 * Whether a model reads the spatial map rather than the pooled vector: an attention model, or an
 * ensemble with one (its pooled-vector members then average the map, see buildDecodeGraphs).
 */
export function readsSpatial(model: LoadedModel): boolean {
  return (model.members ?? [model]).some((m) => inputShape(m.architecture, m.config.model).length > 1);
}

/**
 * One encoder run over a filled batch: what the decoder reads of each image (its pooled vector, or its
 * spatial map, C×H×W) and each image's pooled vector (what the consensus index is searched with).
 */
export async function encodeBatch(
  encoder: ImageEncoder,
  batch: Float32Array,
  count: number,
  spatial: boolean,
): Promise<{ features: Float32Array[]; pooled: Float32Array[] }> {
  const out = await encoder.run(batch, count, { spatial });
  const split = (all: Float32Array) => {
    const dim = all.length / count;
    return Array.from({ length: count }, (_, i) => all.slice(i * dim, (i + 1) * dim));
  };
  const pooled = split(out.pooled);
  return { features: spatial ? split(out.spatial!) : pooled, pooled };
}
