import * as ort from 'onnxruntime-node';
import { modelArguments, SessionCore, type ModelSource, type SessionOptions } from './session-core.js';

/**
 * The one module that touches the tensor runtime (onnxruntime-node). Everything else hands it ONNX
 * bytes and typed arrays, and gets typed arrays back: models, training, decoding and the encoder stay
 * free of runtime types, so the browser can put onnxruntime-web behind the same functions.
 */

export {
  floats,
  type ModelSource,
  type SessionOptions,
  type Tensor,
  type TensorData,
} from './session-core.js';

/** A loaded model: named inputs in, named outputs out. */
export class Session extends SessionCore<ort.Tensor> {
  static async create(model: ModelSource | string, options: SessionOptions = {}): Promise<Session> {
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions(options))
        : await ort.InferenceSession.create(...modelArguments(model, sessionOptions(options)));
    return new Session(session, ort.Tensor);
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
    enableCpuMemArena: options.keepMemory ?? true,
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
    // CAPTIONER_ORT_PROFILE=prefix writes onnxruntime's per-operator timings (`npx tsx bench/profile-summary.ts <prefix>` sums them up).
    ...(process.env.CAPTIONER_ORT_PROFILE
      ? { enableProfiling: true, profileFilePrefix: process.env.CAPTIONER_ORT_PROFILE }
      : {}),
  };
}
