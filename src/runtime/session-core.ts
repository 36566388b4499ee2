/**
 * What `onnx.ts` (onnxruntime-node) and `onnx-web.ts` (onnxruntime-web) share: the tensor and session
 * types the rest of the code sees, and the session wrapper itself. Both packages expose onnxruntime's
 * one JavaScript API (onnxruntime-common); this file imports neither, so each build pulls in only its
 * own runtime.
 */

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface Tensor {
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/**
 * A model whose weights are kept beside it (ONNX external data): each buffer under the name (`path`)
 * its initializers' `location` gives. See browser/fold-constants.ts.
 */
export interface ModelWithWeights {
  model: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
}

/** A serialized model, whole or with its weights apart. */
export type ModelSource = Uint8Array | ModelWithWeights;

/**
 * What either package's InferenceSession.create takes for a model: its bytes, and the session options
 * with its external data where its weights are apart (onnxruntime copies them straight into its tensors).
 */
export function modelArguments<O extends object>(
  model: ModelSource,
  options: O,
): [Uint8Array, O & { externalData?: ModelWithWeights['externalData'] }] {
  return model instanceof Uint8Array
    ? [model, options]
    : [model.model, { ...options, externalData: model.externalData }];
}

export interface SessionOptions {
  /** Intra-op threads (default 1; onnxruntime-web has one pool for all sessions and ignores it). */
  threads?: number;
  /** Let idle threads spin for the next task: faster for many small ops, but burns a core (Node only). */
  spinning?: boolean;
  /** Graph optimisation (default: all in Node, basic in the browser; see each runtime). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Keep the memory of a run for the next one (onnxruntime's CPU arena; default true, Node only). A
   * session that runs big graphs now and then (training, one graph per caption length) frees it
   * instead: an arena keeps its session's peak for good, a few hundred MB per training graph.
   */
  keepMemory?: boolean;
}

export type TensorType = 'float32' | 'int32' | 'int64' | 'uint8';

export function typeOf(data: TensorData): TensorType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'uint8';
}

/** An onnxruntime InferenceSession, as far as Session uses it (either package's fits). */
export interface RuntimeSession<RuntimeTensor> {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(
    feeds: Record<string, RuntimeTensor>,
    fetches?: readonly string[] | Record<string, RuntimeTensor | null>,
  ): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

/** A runtime's Tensor class, as far as Session uses it. */
export type RuntimeTensorClass<RuntimeTensor> = new (
  type: TensorType,
  data: TensorData,
  dims: readonly number[],
) => RuntimeTensor;

/** A loaded model: named inputs in, named outputs out. Each runtime module adds `create`. */
export class SessionCore<RuntimeTensor> {
  /**
   * `session` is the runtime's InferenceSession: its outputs may hold strings or maps, ours are always
   * numeric tensors (hence the cast).
   */
  private readonly session: RuntimeSession<RuntimeTensor>;

  /**
   * `fillsGivenOutputs`: whether the runtime writes a run's outputs into output tensors it is given.
   * onnxruntime-web (1.30) takes them but hands them back unwritten (it runs into a copy in its own
   * memory and never copies back); for it, `run` copies the outputs into `into` itself.
   */
  protected constructor(
    session: unknown,
    private readonly Tensor: RuntimeTensorClass<RuntimeTensor>,
    private readonly fillsGivenOutputs = true,
  ) {
    this.session = session as RuntimeSession<RuntimeTensor>;
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the model; `outputs` (default all) limits what is computed to what those outputs need. The
   * outputs named in `into` are written into those tensors' memory (views of a bigger array will do):
   * by onnxruntime-node straight there, no new array per run; by onnxruntime-web into its own, then
   * copied.
   */
  async run(
    feeds: Record<string, Tensor>,
    outputs?: readonly string[],
    into?: Record<string, Tensor>,
  ): Promise<Record<string, Tensor>> {
    if (into && !this.fillsGivenOutputs) {
      const out = await this.run(feeds, outputs);
      for (const [name, t] of Object.entries(into)) {
        const result = out[name];
        if (!result) continue;
        if (result.data.length !== t.data.length || result.data.constructor !== t.data.constructor)
          throw new Error(
            `run: output ${name} holds ${result.data.length} values, not the ${t.data.length} given`,
          );
        (t.data as Float32Array).set(result.data as Float32Array);
        out[name] = t;
      }
      return out;
    }
    const input: Record<string, RuntimeTensor> = {};
    for (const [name, t] of Object.entries(feeds))
      input[name] = new this.Tensor(typeOf(t.data), t.data, t.dims);
    let fetches: readonly string[] | Record<string, RuntimeTensor | null> | undefined = outputs;
    if (into) {
      const names = outputs ?? this.outputNames;
      fetches = Object.fromEntries(
        names.map((name) => {
          const t = into[name];
          return [name, t ? new this.Tensor(typeOf(t.data), t.data, t.dims) : null];
        }),
      );
    }
    const result = fetches ? await this.session.run(input, fetches) : await this.session.run(input);
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(result)) out[name] = { data: t.data, dims: t.dims };
    return out;
  }

  /** Frees the native memory; a failure there is not worth an unhandled rejection. */
  async release(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }
}

/** The float32 data of a run's output, or an error naming it. */
export function floats(out: Record<string, Tensor>, name: string): Float32Array {
  const t = out[name];
  if (!t || !(t.data instanceof Float32Array))
    throw new Error(`onnxruntime returned no float32 output ${name}`);
  return t.data;
}
