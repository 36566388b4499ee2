import * as ort from 'onnxruntime-web/wasm';
import { modelArguments, SessionCore, type ModelSource, type SessionOptions } from './session-core.js';

/**
 * The browser's sibling of `onnx.ts`: the same functions over onnxruntime-web (WebAssembly, SIMD,
 * threads when the page is cross-origin isolated). The browser build resolves `runtime/onnx.js` to this
 * file, so the step decoder, the beam search and the bundle captioner run unchanged on it.
 */

export {
  floats,
  type ModelSource,
  type SessionOptions,
  type Tensor,
  type TensorData,
} from './session-core.js';

export interface WebRuntimeOptions {
  /** Where ort-wasm-simd-threaded.mjs and .wasm are (a URL prefix ending in /); default: beside onnxruntime-web. */
  wasmPaths?: string;
  /**
   * WebAssembly threads. Default: half the device's cores, at least 2 and at most 4, when the page is
   * cross-origin isolated (COOP/COEP headers; SharedArrayBuffer needs it), else 1.
   */
  threads?: number;
}

/** What the runtime settled on (after the first session). */
export interface WebRuntimeInfo {
  version: string;
  threads: number;
  crossOriginIsolated: boolean;
}

// The few browser globals read here (typed locally: the Node build has no DOM types).
const page = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };

/** Sets up onnxruntime-web; call before the first session (later calls change nothing). */
export function configureWebRuntime(options: WebRuntimeOptions = {}): WebRuntimeInfo {
  const isolated = page.crossOriginIsolated === true;
  const cores = page.navigator?.hardwareConcurrency || 1;
  // Half the cores, at least 2 (where there are 2) and at most 4 (onnxruntime-web's own default is
  // half, at most 4): the page's main thread decodes photos and runs the beam search meanwhile. On a
  // 2-core machine a second thread makes captioning faster (bench:browser -- --threads 2 / 1, five
  // alternating pairs: p50 median 147 against 176 ms, faster in four pairs of five).
  const threads =
    options.threads ?? (isolated ? Math.min(cores, Math.max(2, Math.min(4, Math.ceil(cores / 2)))) : 1);
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  ort.env.wasm.numThreads = isolated ? threads : 1;
  ort.env.wasm.simd = true;
  ort.env.logLevel = 'error';
  return webRuntimeInfo();
}

// The smallest model (y = Identity(x), one float): its session starts the runtime.
const IDENTITY_MODEL = Uint8Array.from([
  8, 8, 58, 55, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110, 116, 105, 116, 121, 18, 1, 119, 90,
  15, 10, 1, 120, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 98, 15, 10, 1, 121, 18, 10, 10, 8, 8, 1, 18, 4, 10,
  2, 8, 1, 66, 4, 10, 0, 16, 18,
]);

let starting: Promise<void> | undefined;

/**
 * Starts the runtime (fetching and compiling its WebAssembly, starting its threads) without waiting:
 * call it early, and the start overlaps whatever comes next (reading the model, say).
 */
export function startWebRuntime(): Promise<void> {
  starting ??= ort.InferenceSession.create(IDENTITY_MODEL).then((session) => session.release());
  return starting;
}

export function webRuntimeInfo(): WebRuntimeInfo {
  return {
    version: ort.env.versions.web ?? 'unknown',
    threads: ort.env.wasm.numThreads ?? 1,
    crossOriginIsolated: page.crossOriginIsolated === true,
  };
}

/** A loaded model: named inputs in, named outputs out. */
export class Session extends SessionCore<ort.Tensor> {
  static async create(model: ModelSource | string, options: SessionOptions = {}): Promise<Session> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['wasm'],
      // None by default: the export already shapes these graphs, and optimising them costs at session
      // start what it never wins back. The attention decoder's sessions started in 240–310 ms against
      // 300–490 with 'basic' (the page ready from the cache ~0.2 s sooner, two pairs alternating), for
      // the same caption time; 'all' makes the first runs several times slower.
      graphOptimizationLevel: options.optimization ?? 'disabled',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    };
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(...modelArguments(model, sessionOptions));
    return new Session(session, ort.Tensor, false);
  }
}
