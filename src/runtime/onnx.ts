import * as ort from 'onnxruntime-node';

/**
 * The one module that touches the tensor runtime (onnxruntime-node). Everything else hands it ONNX
 * bytes and typed arrays, and gets typed arrays back: models, training, decoding and the encoder stay
 * free of runtime types, so the browser can put onnxruntime-web behind the same functions.
 */

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface Tensor {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

export interface SessionOptions {
  /** Intra-op threads (default 1). */
  threads?: number;
  /** Let idle threads spin for the next task: faster for many small ops, but burns a core. */
  spinning?: boolean;
  /** Graph optimisation (default all). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

function typeOf(data: TensorData): ort.Tensor.Type {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'uint8';
}

/** A loaded model: named inputs in, named outputs out. */
export class Session {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(model: Uint8Array | string, options: SessionOptions = {}): Promise<Session> {
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions(options))
        : await ort.InferenceSession.create(model, sessionOptions(options));
    return new Session(session);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the model; `outputs` (default all) limits what is computed to what those outputs need. */
  async run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>> {
    const input: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds))
      input[name] = new ort.Tensor(typeOf(t.data), t.data, t.dims as number[]);
    const result = outputs
      ? await this.session.run(input, outputs as string[])
      : await this.session.run(input);
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(result)) out[name] = { data: t.data as TensorData, dims: t.dims };
    return out;
  }

  /** Frees the native memory; a failure there is not worth an unhandled rejection. */
  async release(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }
}

/**
 * Full graph optimisation, one op at a time, only errors logged, and idle threads that sleep unless
 * `spinning` (spinning saves a wake-up per parallel op but burns a core that a server's other work needs).
 */
function sessionOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: options.threads ?? 1,
    graphOptimizationLevel: options.optimization ?? 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
    // CAPTIONER_ORT_PROFILE=prefix writes onnxruntime's per-operator timings (bench/profile-summary.ts reads them).
    ...(process.env.CAPTIONER_ORT_PROFILE
      ? { enableProfiling: true, profileFilePrefix: process.env.CAPTIONER_ORT_PROFILE }
      : {}),
  };
}

/** The float32 data of a run's output, or an error naming it. */
export function floats(out: Record<string, Tensor>, name: string): Float32Array {
  const t = out[name];
  if (!t || !(t.data instanceof Float32Array))
    throw new Error(`onnxruntime returned no float32 output ${name}`);
  return t.data;
}
