import { floats, Session, type ModelSource, type SessionOptions, type Tensor } from '../runtime/onnx.js';
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
  /** The changing states, rows × width each, by name. */
  readonly values: ReadonlyMap<string, Float32Array>;
  /** The constant states, one row per group (see `groups`), by name. */
  readonly constants: ReadonlyMap<string, Float32Array>;
  /** The image (its index in `start`) each row decodes. */
  readonly images: Int32Array;
  /**
   * The image of each row of `constants`. Rows come in groups of k = rows / groups.length: row r
   * decodes group ⌊r / k⌋'s image. A beam search's k beams of an image make one group; rows that
   * cannot be grouped evenly get a group each.
   */
  readonly groups: Int32Array;
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
    readonly regions: number | undefined,
    /** Whether the step graph reads constants per image (StepModels.constantsPerImage). */
    private readonly perImage: boolean,
  ) {}

  /** Threads default to 1: a step's products are a few rows, too small to split. */
  static async create(
    models: StepModels<ModelSource>,
    options: OnnxDecoderOptions = {},
  ): Promise<OnnxStepDecoder> {
    const open = async (bytes: ModelSource, what: string) => {
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
      models.constantsPerImage === true,
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
    const constants = new Map<string, Float32Array>();
    for (const s of this.states)
      (s.constant ? constants : values).set(
        s.name,
        s.init === 'zeros' || rows === 0 ? new Float32Array(rows * s.width) : floats(started, s.name),
      );
    const order = Int32Array.from({ length: rows }, (_, i) => i);
    const state: OnnxState = { rows, values, constants, images: order, groups: order };
    return state;
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as OnnxState;
    const { rows } = s;
    checkStepTokens(tokens, rows, this.vocabSize);
    const feeds: Record<string, Tensor> = { [TOKENS]: { data: tokens, dims: [rows] } };
    for (const spec of this.states)
      feeds[spec.name] = spec.constant
        ? { data: s.constants.get(spec.name)!, dims: [s.groups.length, ...stateShape(spec)] }
        : { data: s.values.get(spec.name)!, dims: [rows, ...stateShape(spec)] };
    const out = await this.stepSession.run(feeds);
    const values = new Map<string, Float32Array>();
    for (const spec of this.states) if (!spec.constant) values.set(spec.name, floats(out, spec.name + NEXT));
    const next: OnnxState = { ...s, values };
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
    const values = new Map<string, Float32Array>();
    for (const { name, width, constant } of this.states)
      if (!constant) values.set(name, pickRows(s.values.get(name)!, width, s.rows, rows));
    const groups = (this.perImage && evenGroups(images)) || images;
    // The constants (an attention model's regions: 250 KB an image) are copied only when the groups
    // change: when an image of the batch finishes, not when beams reorder within their images.
    let constants = s.constants;
    if (!sameValues(groups, s.groups)) {
      const groupOf = new Map<number, number>();
      s.groups.forEach((image, i) => groupOf.has(image) || groupOf.set(image, i));
      const picked = Int32Array.from(groups, (image) => groupOf.get(image)!);
      constants = new Map(
        this.states
          .filter((spec) => spec.constant)
          .map(({ name, width }) => [name, pickRows(s.constants.get(name)!, width, s.groups.length, picked)]),
      );
    }
    const next: OnnxState = { rows: rows.length, values, constants, images, groups };
    return next;
  }

  dispose(): void {
    for (const session of [this.startSession, this.stepSession]) void session?.release();
  }
}

/**
 * The image of each run of rows when every run (consecutive rows of one image) has the same length,
 * as a beam search's beams do; otherwise undefined.
 */
function evenGroups(images: Int32Array): Int32Array | undefined {
  if (images.length === 0) return images;
  let k = 1;
  while (k < images.length && images[k] === images[0]) k++;
  if (images.length % k !== 0) return undefined;
  const groups = new Int32Array(images.length / k);
  for (let g = 0; g < groups.length; g++) {
    const image = images[g * k];
    for (let r = g * k + 1; r < (g + 1) * k; r++) if (images[r] !== image) return undefined;
    groups[g] = image;
  }
  return groups;
}

function sameValues(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
