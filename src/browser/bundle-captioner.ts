import { Vocabulary } from '../data/vocabulary.js';
import { beamSearchReranked, ConsensusIndex } from '../decode/consensus.js';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type BundleConfig } from '../export/bundle-format.js';
import type { StepModels } from '../model/decode-graphs.js';
import { OnnxStepDecoder } from '../model/onnx-step-decoder.js';
import { captionAlternatives } from '../pipeline/alternatives.js';
import type { CaptionOptions, CaptionResult } from '../pipeline/captioner-types.js';
import { floats, Session, type ModelSource } from '../runtime/onnx.js';
import { CaptionerError } from '../util/errors.js';
import { KeptArray } from '../util/kept-array.js';
import { foldGraph } from './fold-constants.js';
import { fillPlanar, normalizationTable } from '../vision/preprocess.js';

/**
 * A captioner over an exported bundle: its encoder graph, its start and step graphs, its config. The
 * same code runs in Node (tests check the bundle against the captioner) and in the browser, where the
 * bundler swaps `runtime/onnx` for `runtime/onnx-web`: the beam search and its rules are the ones the
 * server uses (src/decode).
 */
export class BundleCaptioner {
  private readonly lut: Float32Array;
  private readonly vocabulary: Vocabulary;
  /** The encoder's input (600 KB of floats), kept from one photo to the next (see KeptArray). */
  private readonly batches = new KeptArray(Float32Array);

  private constructor(
    readonly config: BundleConfig,
    private readonly encoder: Session,
    private readonly decoder: OnnxStepDecoder,
    private consensusFile?: { bytes: Uint8Array; name: string },
  ) {
    const p = config.preprocessing;
    this.lut = normalizationTable(p.mean, p.std);
    const { tokens } = config.vocabulary;
    this.vocabulary = new Vocabulary({ version: 1, minCount: 0, tokens, counts: tokens.map(() => 0) });
  }

  /**
   * Opens the bundle's graphs; `read` gives a file's bytes by name. `folded`: graphs already folded
   * (foldGraph, by the page's loading worker), by file name.
   */
  static async create(
    config: BundleConfig,
    read: (file: string) => Promise<Uint8Array>,
    options: { threads?: number; folded?: ReadonlyMap<string, ModelSource> } = {},
  ): Promise<BundleCaptioner> {
    checkConfig(config);
    const { decoder: d } = config;
    const t0 = performance.now();
    // The int8 weights' dequantization folded into float weights here: onnxruntime-web would redo it
    // at every run (the int8 weights of integer products stay int8: DynamicQuantizeMatMul reads them).
    const graph = async (file: string) => options.folded?.get(file) ?? foldGraph(file, await read(file));
    const consensusFile = config.decoding.consensus?.file;
    const [encoderBytes, startBytes, stepBytes, consensus] = await Promise.all([
      graph(config.encoder.file),
      d.start ? graph(d.start.file) : undefined,
      graph(d.step.file),
      consensusFile ? read(consensusFile).then((bytes) => ({ bytes, name: consensusFile })) : undefined,
    ]);
    const startInput = d.start?.inputs[0].dims.slice(1).map(Number) ?? [config.model.featureDim];
    // Built untyped: StepModels may gain fields (startShape for attention models) that older ones lack.
    const models = {
      start: startBytes,
      step: stepBytes,
      states: d.states,
      featureDim: startInput.reduce((a, b) => a * b, 1),
      startShape: startInput,
      vocabSize: config.vocabulary.tokens.length,
      constantsPerImage: d.constantsPerImage === true,
    } as StepModels<ModelSource>;
    const t1 = performance.now();
    // One after the other (the runtime starts with the first): their times are told apart.
    // No graph optimisation for the encoder: the export already shaped it, and optimising its many
    // nodes costs a second in the browser for nothing faster.
    const encoder = await Session.create(encoderBytes, {
      threads: options.threads,
      optimization: 'disabled',
    }).catch((error: Error) => {
      throw new CaptionerError('MODEL_INVALID', `onnxruntime cannot load the encoder: ${error.message}`);
    });
    const t2 = performance.now();
    const decoder = await OnnxStepDecoder.create(models);
    const t3 = performance.now();
    const captioner = new BundleCaptioner(config, encoder, decoder, consensus);
    // The reranker's index parsed (~0.15 s) and its document frequencies built (~0.65 s of the main
    // thread) once the page has shown it is ready, rather than before or in the first photo's time (a
    // photo asked for sooner does it itself; a damaged index is reported then, or here, on the console).
    if (consensus)
      setTimeout(() => {
        try {
          captioner.consensus?.prepare();
        } catch (error) {
          console.error(error);
        }
      }, 100);
    captioner.timings = { foldMs: round(t1 - t0), encoderMs: round(t2 - t1), decoderMs: round(t3 - t2) };
    return captioner;
  }

  /**
   * What opening took (ms): folding the weights' dequantization, the encoder's session (the runtime's
   * start included: it starts with the first session), the decoder's sessions.
   */
  timings = { foldMs: 0, encoderMs: 0, decoderMs: 0 };

  private parsedConsensus?: ConsensusIndex;

  /** The reranker's index, parsed at its first use. */
  private get consensus(): ConsensusIndex | undefined {
    if (this.consensusFile) {
      const { bytes, name } = this.consensusFile;
      this.parsedConsensus = ConsensusIndex.parse(bytes, name);
      this.consensusFile = undefined;
    }
    return this.parsedConsensus;
  }

  /** [height, width] the photo must be squashed to before `captionPixels`. */
  get inputSize(): [number, number] {
    return this.config.preprocessing.inputSize;
  }

  /**
   * Captions a photo already squashed to `inputSize`: 8-bit pixels, `channels` per pixel (3: RGB, 4:
   * RGBA with the alpha ignored, as a canvas gives them). `decodeMs` is what getting the pixels took.
   */
  async captionPixels(
    pixels: ArrayLike<number>,
    channels: 3 | 4,
    options: CaptionOptions = {},
    decodeMs = 0,
  ): Promise<CaptionResult> {
    const [h, w] = this.inputSize;
    if (pixels.length !== h * w * channels)
      throw new Error(`captionPixels: ${pixels.length} values for ${w}×${h}×${channels}`);
    const t0 = performance.now();
    const batch = this.batches.take(3 * h * w);
    fillPlanar(pixels, channels, h * w, this.lut, batch, 0);
    const { features, pooled } = await this.encodeBoth(batch);
    this.batches.give(batch);
    const t1 = performance.now();
    const captions = await this.generate(features, options, pooled);
    const t2 = performance.now();
    const alternatives = captionAlternatives(captions);
    return {
      caption: alternatives[0]?.text ?? '',
      alternatives,
      timings: {
        decodeMs: round(decodeMs),
        encodeMs: round(t1 - t0),
        generateMs: round(t2 - t1),
        totalMs: round(decodeMs + t2 - t0),
      },
    };
  }

  /** The encoder's output the decoder reads, for one preprocessed photo ([3, h, w] floats). */
  async encode(batch: Float32Array): Promise<Float32Array> {
    return (await this.encodeBoth(batch)).features;
  }

  /**
   * What the decoder reads of one preprocessed photo, and its pooled vector (the consensus index is
   * searched with it; the same tensor for a model that reads the pooled vector).
   */
  private async encodeBoth(batch: Float32Array): Promise<{ features: Float32Array; pooled: Float32Array }> {
    const [h, w] = this.inputSize;
    const input = this.config.encoder.inputs[0].name;
    const { outputs } = this.config.encoder;
    const read = outputs.find((o) => o.name === this.config.decoder.reads) ?? outputs[0];
    // The pooled output is listed first (see export/bundle.ts).
    const pooled = outputs[0];
    const names = this.consensus && pooled.name !== read.name ? [read.name, pooled.name] : [read.name];
    const out = await this.encoder.run({ [input]: { data: batch, dims: [1, 3, h, w] } }, names);
    const features = floats(out, read.name);
    return { features, pooled: names.length > 1 ? floats(out, pooled.name) : features };
  }

  /**
   * Beam search over the bundle's decoder with the captioner's rules and the bundle's defaults; with
   * the photo's pooled vector and a consensus index, the beam's captions reranked as the server does.
   */
  async generate(image: Float32Array, options: CaptionOptions = {}, pooled?: Float32Array) {
    const d = this.config.decoding;
    const beam = options.beam ?? d.beam;
    const consensus = pooled && options.consensus !== false ? this.consensus : undefined;
    const [captions] = await beamSearchReranked(
      this.decoder,
      [image],
      this.vocabulary,
      {
        beam,
        results: Math.min(beam, (options.alternatives ?? beam - 1) + 1),
        maxLength: options.maxLength ?? d.maxLength,
        lengthPenalty: d.lengthPenalty,
        blockTrigrams: options.blockTrigrams ?? d.blockTrigrams,
        badEndings: options.badEndings ?? d.badEndings,
        exhaustive: options.exhaustive,
      },
      consensus && { index: consensus, pooled: [pooled!] },
    );
    return captions;
  }

  async dispose(): Promise<void> {
    this.decoder.dispose();
    await this.encoder.release();
  }
}

function checkConfig(config: BundleConfig): void {
  if (config?.format !== BUNDLE_FORMAT || config.version !== BUNDLE_VERSION)
    throw new CaptionerError(
      'MODEL_INVALID',
      `not a captioner bundle of version ${BUNDLE_VERSION} (format ${String(config?.format)}, version ${String(config?.version)})`,
    );
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
