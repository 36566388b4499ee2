import * as ort from 'onnxruntime-node';
import { CaptionerError } from '../util/errors.js';
import { onnxSessionOptions } from '../util/onnx-session.js';
import {
  checkStepTokens,
  packRows,
  pickRows,
  type DecoderState,
  type StepDecoder,
  type StepResult,
} from './step-decoder.js';
import { FEATURES, LOG_PROBS, NEXT, TOKENS, type StateSpec, type StepModels } from './step-graph.js';

interface OnnxState extends DecoderState {
  /** One rows × width array per StateSpec, by name. */
  readonly values: ReadonlyMap<string, Float32Array>;
}

export interface OnnxDecoderOptions {
  /** onnxruntime intra-op threads (default 1: a step's products are a few rows, too small to split). */
  threads?: number;
  /** Let idle onnxruntime threads spin for the next task: faster with threads > 1, but burns CPU. */
  spinning?: boolean;
}

/**
 * A StepDecoder that runs the start and step graphs of `buildStepModels` in onnxruntime: one native
 * call per step for a whole model or ensemble, instead of a dozen tfjs calls. State stays in small
 * Float32Arrays between steps, so beam reordering is a row copy in JS.
 */
export class OnnxStepDecoder implements StepDecoder {
  private constructor(
    readonly vocabSize: number,
    private readonly featureDim: number,
    private readonly states: StateSpec[],
    private readonly startSession: ort.InferenceSession | undefined,
    private readonly stepSession: ort.InferenceSession,
  ) {}

  static async create(
    models: StepModels,
    sizes: { vocabSize: number; featureDim: number },
    options: OnnxDecoderOptions = {},
  ): Promise<OnnxStepDecoder> {
    const sessionOptions = onnxSessionOptions(options.threads ?? 1, options.spinning);
    const open = async (bytes: Uint8Array, what: string) => {
      try {
        return await ort.InferenceSession.create(bytes, sessionOptions);
      } catch (error) {
        throw new CaptionerError(
          'MODEL_INVALID',
          `onnxruntime cannot load the ${what} graph: ${(error as Error).message}`,
        );
      }
    };
    const start = models.start ? await open(models.start, 'start') : undefined;
    const step = await open(models.step, 'step');
    return new OnnxStepDecoder(sizes.vocabSize, sizes.featureDim, models.states, start, step);
  }

  async start(images: Float32Array[]): Promise<DecoderState> {
    const rows = images.length;
    const dim = this.featureDim;
    const features = packRows(images, dim);
    const started =
      this.startSession && rows > 0
        ? await this.startSession.run({ [FEATURES]: new ort.Tensor('float32', features, [rows, dim]) })
        : {};
    const values = new Map<string, Float32Array>();
    for (const s of this.states)
      values.set(
        s.name,
        s.init === 'zeros' || rows === 0 ? new Float32Array(rows * s.width) : floats(started[s.name]),
      );
    const state: OnnxState = { rows, values };
    return state;
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as OnnxState;
    const { rows } = s;
    checkStepTokens(tokens, rows, this.vocabSize);
    const feeds: Record<string, ort.Tensor> = { [TOKENS]: new ort.Tensor('int32', tokens, [rows]) };
    for (const spec of this.states)
      feeds[spec.name] = new ort.Tensor('float32', s.values.get(spec.name)!, [rows, spec.width]);
    const out = await this.stepSession.run(feeds);
    const values = new Map<string, Float32Array>();
    for (const spec of this.states)
      values.set(spec.name, spec.constant ? s.values.get(spec.name)! : floats(out[spec.name + NEXT]));
    const next: OnnxState = { rows, values };
    return { logProbs: floats(out[LOG_PROBS]), state: next };
  }

  select(state: DecoderState, rows: Int32Array): DecoderState {
    const s = state as OnnxState;
    const values = new Map<string, Float32Array>();
    for (const { name, width } of this.states)
      values.set(name, pickRows(s.values.get(name)!, width, s.rows, rows));
    const next: OnnxState = { rows: rows.length, values };
    return next;
  }

  dispose(): void {
    // Releasing only frees native memory; a failure there must not become an unhandled rejection.
    for (const session of [this.startSession, this.stepSession]) session?.release().catch(() => undefined);
  }
}

function floats(t: ort.Tensor | undefined): Float32Array {
  if (!t || t.type !== 'float32') throw new Error('onnxruntime returned no float32 output');
  return t.data as Float32Array;
}
