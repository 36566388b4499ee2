import { floats, Session, type SessionOptions, type Tensor } from '../runtime/onnx.js';
import { CaptionerError } from '../util/errors.js';
import { ATTENTION, FEATURES, LOG_PROBS, NEXT, TOKENS, type StepModels } from './decode-graphs.js';
import { stateShape, type StateSpec } from './architecture.js';
import {
  checkStepTokens,
  packRows,
  pickRows,
  type DecoderState,
  type StepDecoder,
  type StepResult,
} from './step-decoder.js';

interface OnnxState extends DecoderState {
  /** One rows × width array per StateSpec, by name. */
  readonly values: ReadonlyMap<string, Float32Array>;
  /** The image (its index in `start`) each row decodes. */
  readonly images: Int32Array;
}

export type OnnxDecoderOptions = Pick<SessionOptions, 'threads' | 'spinning'>;

/**
 * A StepDecoder that runs the start and step graphs of `buildDecodeGraphs`: one native call per step
 * for a whole model or ensemble. State stays in small Float32Arrays between steps, so beam reordering
 * is a row copy in JS.
 */
export class OnnxStepDecoder implements StepDecoder {
  private constructor(
    readonly vocabSize: number,
    private readonly featureDim: number,
    private readonly states: StateSpec[],
    private readonly startSession: Session | undefined,
    private readonly stepSession: Session,
    private readonly startShape: number[],
    /** Regions of the step's attention weights, for attention models. */
    readonly regions?: number,
  ) {}

  /** Threads default to 1: a step's products are a few rows, too small to split. */
  static async create(models: StepModels, options: OnnxDecoderOptions = {}): Promise<OnnxStepDecoder> {
    const open = async (bytes: Uint8Array, what: string) => {
      try {
        return await Session.create(bytes, { threads: options.threads ?? 1, spinning: options.spinning });
      } catch (error) {
        throw new CaptionerError(
          'MODEL_INVALID',
          `onnxruntime cannot load the ${what} graph: ${(error as Error).message}`,
        );
      }
    };
    const start = models.start ? await open(models.start, 'start') : undefined;
    const step = await open(models.step, 'step');
    return new OnnxStepDecoder(
      models.vocabSize,
      models.featureDim,
      models.states,
      start,
      step,
      models.startShape,
      models.regions,
    );
  }

  async start(images: Float32Array[]): Promise<DecoderState> {
    const rows = images.length;
    const dim = this.featureDim;
    const features = packRows(images, dim);
    const started =
      this.startSession && rows > 0
        ? await this.startSession.run({ [FEATURES]: { data: features, dims: [rows, ...this.startShape] } })
        : {};
    const values = new Map<string, Float32Array>();
    for (const s of this.states)
      values.set(
        s.name,
        s.init === 'zeros' || rows === 0 ? new Float32Array(rows * s.width) : floats(started, s.name),
      );
    const state: OnnxState = { rows, values, images: Int32Array.from({ length: rows }, (_, i) => i) };
    return state;
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as OnnxState;
    const { rows } = s;
    checkStepTokens(tokens, rows, this.vocabSize);
    const feeds: Record<string, Tensor> = { [TOKENS]: { data: tokens, dims: [rows] } };
    for (const spec of this.states)
      feeds[spec.name] = { data: s.values.get(spec.name)!, dims: [rows, ...stateShape(spec)] };
    const out = await this.stepSession.run(feeds);
    const values = new Map<string, Float32Array>();
    for (const spec of this.states)
      values.set(spec.name, spec.constant ? s.values.get(spec.name)! : floats(out, spec.name + NEXT));
    const next: OnnxState = { rows, values, images: s.images };
    return {
      logProbs: floats(out, LOG_PROBS),
      state: next,
      ...(this.regions ? { attention: floats(out, ATTENTION) } : {}),
    };
  }

  select(state: DecoderState, rows: Int32Array): DecoderState {
    const s = state as OnnxState;
    const images = Int32Array.from(rows, (r) => {
      if (r < 0 || r >= s.rows) throw new Error(`select: row ${r} of ${s.rows}`);
      return s.images[r];
    });
    // A constant state (an attention model's 49 regions: 250 KB a row) is the same in every row of an
    // image: while the rows still decode the same images in the same order, as in most steps of a beam
    // search (beams reorder within their image), it is kept, not copied.
    const sameImages = images.length === s.images.length && images.every((m, i) => m === s.images[i]);
    const values = new Map<string, Float32Array>();
    for (const { name, width, constant } of this.states) {
      const value = s.values.get(name)!;
      values.set(name, constant && sameImages ? value : pickRows(value, width, s.rows, rows));
    }
    const next: OnnxState = { rows: rows.length, values, images };
    return next;
  }

  dispose(): void {
    for (const session of [this.startSession, this.stepSession]) void session?.release();
  }
}
