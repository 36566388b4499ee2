/**
 * captioner in the browser: `import { loadCaptioner } from 'captioner/browser'`. The photo never leaves
 * the device: the model (a bundle written by `captioner export`, or served by `captioner serve` at
 * /model/) runs on onnxruntime-web (WebAssembly, SIMD, threads when the page is cross-origin isolated),
 * with the beam search and decoding rules of the server (one implementation, src/decode).
 *
 *   const captioner = await loadCaptioner({ modelUrl: '/model/' });
 *   const { caption, alternatives, timings } = await captioner.caption(file); // a File, Blob, ImageBitmap, <img>, <canvas>
 */
import type { BundleConfig } from '../export/bundle-format.js';
import type { CaptionOptions, CaptionResult } from '../pipeline/captioner-types.js';
import {
  configureWebRuntime,
  startWebRuntime,
  webRuntimeInfo,
  type WebRuntimeInfo,
} from '../runtime/onnx-web.js';
import { CaptionerError } from '../util/errors.js';
import { KeptArray } from '../util/kept-array.js';
import { BundleCaptioner } from './bundle-captioner.js';
import { browser } from './dom.js';
import { photoPixels, type ImageSource, type Resampling } from './image.js';
import type { LoadProgress } from './model-files.js';
import { loadModelFiles } from './model-loading.js';

export type { BundleConfig } from '../export/bundle-format.js';
export type {
  CaptionAlternative,
  CaptionOptions,
  CaptionResult,
  CaptionTimings,
} from '../pipeline/captioner-types.js';
export type { WebRuntimeInfo } from '../runtime/onnx-web.js';
export { CaptionerError, isCaptionerError } from '../util/errors.js';
export type { DrawableImage } from './dom.js';
export type { ImageSource, Resampling } from './image.js';
export type { LoadProgress } from './model-files.js';

/** The runtime's WebAssembly file, for download progress on a first visit (onnxruntime-web 1.30: 14 MB). */
export const ORT_WASM_FILE = 'ort-wasm-simd-threaded.wasm';

export interface LoadOptions {
  /** The bundle's folder (where its config.json is), e.g. '/model/' or 'https://example.org/captioner/'. */
  modelUrl: string | URL;
  /**
   * Where onnxruntime-web's ort-wasm-simd-threaded.mjs and .wasm are (a URL ending in /). Default: beside
   * onnxruntime-web's own script, as your bundler or CDN lays it out.
   */
  wasmPaths?: string;
  /** WebAssembly threads (default: half the cores, at least 2 and at most 4, when the page is cross-origin isolated; else 1). */
  threads?: number;
  /** The Cache Storage name the model is kept under (default 'captioner-model'); false: no caching. */
  cache?: string | false;
  /** Called as the model downloads (or is read from the cache) and as the runtime starts. */
  onProgress?: (progress: LoadProgress) => void;
  /** How photos are squashed to the network's size (default 'lanczos3', as the server does). */
  resampling?: Resampling;
  /**
   * Read the files and fold their int8 weights in a module worker, beside the runtime's start (default
   * true where the browser has workers; false: on the main thread).
   */
  worker?: boolean;
}

export interface LoadTimings {
  filesMs: number;
  startMs: number;
  /** Folding the int8 weights: in the loading worker (within `filesMs`) when `foldedInWorker`. */
  foldMs: number;
  foldedInWorker?: boolean;
  encoderMs: number;
  decoderMs: number;
}

export interface BrowserCaptioner {
  readonly config: BundleConfig;
  /** onnxruntime-web's version, threads, and whether the page is cross-origin isolated. */
  readonly runtime: WebRuntimeInfo;
  /** True when the model came from the browser's cache rather than the network. */
  readonly fromCache: boolean;
  /**
   * What loading took (ms): reading or downloading the files, then starting the runtime and the graphs
   * (of which: folding the int8 weights, the encoder's session with the runtime's start, the decoder's).
   */
  readonly loadTimings: LoadTimings;
  /**
   * Captions a photo: a File or Blob of a JPEG, PNG, WebP, GIF or AVIF (as the browser decodes them), or
   * anything a canvas draws (ImageBitmap, a loaded HTMLImageElement, HTMLCanvasElement, OffscreenCanvas).
   * Rejects with a CaptionerError: IMAGE_UNSUPPORTED (not an image), IMAGE_CORRUPT (cannot be decoded).
   */
  caption(image: ImageSource, options?: CaptionOptions): Promise<CaptionResult>;
  dispose(): Promise<void>;
}

/** The onnxruntime-web version this build runs: its wasm files must be the same version. */
export function runtimeVersion(): string {
  return webRuntimeInfo().version;
}

/** Why this browser cannot caption on the device, or undefined when it can. */
export function onDeviceUnsupported(): string | undefined {
  if (!browser.WebAssembly) return 'this browser has no WebAssembly';
  // A tiny module using SIMD instructions (i8x16.splat, i8x16.popcnt): onnxruntime-web needs SIMD.
  const simd = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98,
    11,
  ]);
  if (!browser.WebAssembly.validate(simd)) return 'this browser has no WebAssembly SIMD';
  if (!browser.createImageBitmap) return 'this browser has no createImageBitmap';
  if (!browser.OffscreenCanvas && !browser.document) return 'no canvas to read photos with';
  return undefined;
}

/** Downloads (or reads from the cache) a bundle and starts it on onnxruntime-web. */
export async function loadCaptioner(options: LoadOptions): Promise<BrowserCaptioner> {
  const why = onDeviceUnsupported();
  if (why) throw new CaptionerError('UNSUPPORTED', `cannot caption on this device: ${why}`);
  const base = new URL(
    String(options.modelUrl),
    (globalThis as { location?: { href: string } }).location?.href,
  );
  if (!base.pathname.endsWith('/') && !base.pathname.endsWith('.json')) base.pathname += '/';
  configureWebRuntime({ wasmPaths: options.wasmPaths, threads: options.threads });
  const t0 = performance.now();
  // The runtime (fetching and compiling its WebAssembly) starts while the model's files are read from
  // the cache; on a first visit, after they and the runtime's wasm are downloaded (with the progress
  // shown), so that it finds its wasm in the HTTP cache rather than fetch it a second time.
  let runtime: Promise<void> | undefined;
  const startRuntime = () => {
    runtime ??= startWebRuntime();
    runtime.then(() => rememberRuntime(options.wasmPaths)).catch(() => undefined); // a failure surfaces at the first session below
  };
  // A page that started the runtime before has its wasm in the HTTP cache: start it at once, before
  // the model's config is even fetched (its start, not reading the model, is the longer wait).
  if (runtimeStartedBefore(options.wasmPaths)) startRuntime();
  const { config, files, fromCache, folded, foldMs } = await loadModelFiles(base.href, {
    cacheName: options.cache,
    onProgress: options.onProgress,
    prefetch: options.wasmPaths ? [{ url: options.wasmPaths + ORT_WASM_FILE, bytes: 14_239_897 }] : [],
    onCacheChecked: (cached) => cached && startRuntime(),
    worker: options.worker,
  });
  startRuntime();
  const t1 = performance.now();
  const total = config.files.reduce((a, f) => a + f.bytes, 0);
  options.onProgress?.({ phase: 'start', loaded: total, total, fromCache });
  const core = await BundleCaptioner.create(
    config,
    async (name) => {
      const bytes = files.get(name);
      if (!bytes) throw new CaptionerError('MODEL_INVALID', `the bundle has no ${name}`);
      return bytes;
    },
    { folded },
  );
  const t2 = performance.now();
  options.onProgress?.({ phase: 'ready', loaded: total, total, fromCache });
  const timings = {
    filesMs: round(t1 - t0),
    startMs: round(t2 - t1),
    ...core.timings,
    ...(folded ? { foldMs: round(foldMs), foldedInWorker: true } : {}),
  };
  return new WebCaptioner(core, webRuntimeInfo(), fromCache, timings, options.resampling ?? 'lanczos3');
}

const RUNTIME_MARK = 'captioner-runtime-started';
const storage = () =>
  (
    globalThis as {
      localStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void };
    }
  ).localStorage;

/** Whether this origin started the runtime from these wasm files before (a localStorage mark). */
function runtimeStartedBefore(wasmPaths: string | undefined): boolean {
  try {
    return storage()?.getItem(RUNTIME_MARK) === (wasmPaths ?? 'default');
  } catch {
    return false; // storage blocked: start it the first-visit way
  }
}

function rememberRuntime(wasmPaths: string | undefined): void {
  try {
    storage()?.setItem(RUNTIME_MARK, wasmPaths ?? 'default');
  } catch {
    // storage blocked or full: the next visit starts the runtime a little later
  }
}

class WebCaptioner implements BrowserCaptioner {
  /** Photos are captioned one at a time (onnxruntime-web runs one session call at a time anyway). */
  private queue: Promise<unknown> = Promise.resolve();
  /** The photos' squashed pixels, kept from one to the next (see KeptArray). */
  private readonly inputs = new KeptArray(Uint8ClampedArray);

  constructor(
    private readonly core: BundleCaptioner,
    readonly runtime: WebRuntimeInfo,
    readonly fromCache: boolean,
    readonly loadTimings: LoadTimings,
    private readonly resampling: Resampling,
  ) {
    // A first run on a blank photo, once the model is ready: onnxruntime prepares its kernels while the
    // visitor picks a photo (a photo given sooner waits for it). In a task of its own: its runs hold
    // the main thread (~0.1 s), and the page would otherwise hear that the model is ready after them.
    const [h, w] = core.inputSize;
    this.queue = new Promise((resolve) => setTimeout(resolve, 0))
      .then(() => core.captionPixels(new Uint8Array(h * w * 4).fill(255), 4, { beam: 1, maxLength: 2 }))
      .catch(() => undefined);
  }

  get config(): BundleConfig {
    return this.core.config;
  }

  caption(image: ImageSource, options: CaptionOptions = {}): Promise<CaptionResult> {
    const run = async () => {
      const t0 = performance.now();
      const pixels = await photoPixels(image, this.core.inputSize, {
        resampling: this.resampling,
        out: this.inputs,
      });
      const result = await this.core.captionPixels(pixels.data, 4, options, performance.now() - t0);
      this.inputs.give(pixels.data);
      return result;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  dispose(): Promise<void> {
    return this.core.dispose();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
