import type { BundleConfig } from '../export/bundle-format.js';
import type { ModelSource } from '../runtime/session-core.js';
import { CaptionerError } from '../util/errors.js';
import { fetchModelFiles, type LoadProgress } from './model-files.js';

/** The bundle's files as the captioner opens them. */
export interface LoadedFiles {
  config: BundleConfig;
  /** The files by name (the graphs among them unless `folded` holds them). */
  files: Map<string, Uint8Array>;
  fromCache: boolean;
  /**
   * The graphs with their int8 weights already folded into floats (by the worker, foldGraph), by
   * file name; undefined when the captioner folds them itself (their bytes are then in `files`).
   */
  folded?: Map<string, ModelSource>;
  /** What folding took in the worker (ms; 0 when the captioner folds them itself). */
  foldMs: number;
}

export interface LoadFilesOptions {
  cacheName?: string | false;
  onProgress?: (progress: LoadProgress) => void;
  prefetch?: { url: string; bytes: number }[];
  onCacheChecked?: (fromCache: boolean) => void;
  /** Read and fold in a worker where the browser has module workers (default true). */
  worker?: boolean;
}

/** To the worker: what to load. */
export interface WorkerRequest {
  baseUrl: string;
  cacheName?: string | false;
  prefetch?: { url: string; bytes: number }[];
}

/** From the worker. */
export type WorkerReply =
  | { type: 'checked'; fromCache: boolean }
  | { type: 'progress'; progress: LoadProgress }
  | {
      type: 'done';
      config: BundleConfig;
      /** The files that are not graphs (the consensus index). */
      files: [string, Uint8Array][];
      /** The graphs, folded. */
      graphs: [string, ModelSource][];
      fromCache: boolean;
      foldMs: number;
    }
  | { type: 'error'; code: string; message: string };

interface WorkerLike {
  onmessage: ((event: { data: WorkerReply }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  postMessage(message: WorkerRequest): void;
  terminate(): void;
}
type WorkerConstructor = new (url: URL, options: { type: 'module'; name?: string }) => WorkerLike;

/**
 * The bundle's config and files, its graphs' weights folded: in a worker where there is one (see
 * model-worker.ts), so that reading the cache and folding overlap the runtime's start on the main
 * thread; else here, the captioner folding them as it opens them. A worker that cannot start (a
 * browser without module workers, a policy that forbids them) falls back to the main thread.
 */
export async function loadModelFiles(baseUrl: string, options: LoadFilesOptions = {}): Promise<LoadedFiles> {
  const Worker = (globalThis as { Worker?: WorkerConstructor }).Worker;
  if (options.worker !== false && Worker) {
    const viaWorker = await inWorker(Worker, baseUrl, options);
    if (viaWorker) return viaWorker;
  }
  const { config, files, fromCache } = await fetchModelFiles(baseUrl, options);
  return { config, files, fromCache, foldMs: 0 };
}

/** Undefined when the worker failed to start (nothing was reported yet): the caller loads here instead. */
function inWorker(
  Worker: WorkerConstructor,
  baseUrl: string,
  options: LoadFilesOptions,
): Promise<LoadedFiles | undefined> {
  let worker: WorkerLike;
  try {
    worker = new Worker(new URL('./model-worker.ts', import.meta.url), {
      type: 'module',
      name: 'captioner-model-files',
    });
  } catch {
    return Promise.resolve(undefined);
  }
  return new Promise<LoadedFiles | undefined>((resolve, reject) => {
    let heard = false;
    worker.onerror = () => {
      worker.terminate();
      if (heard) reject(new CaptionerError('MODEL_INVALID', 'the model loader failed'));
      else resolve(undefined);
    };
    worker.onmessage = ({ data }) => {
      heard = true;
      if (data.type === 'checked') options.onCacheChecked?.(data.fromCache);
      else if (data.type === 'progress') options.onProgress?.(data.progress);
      else {
        worker.terminate();
        if (data.type === 'error') reject(new CaptionerError(data.code, data.message));
        else
          resolve({
            config: data.config,
            files: new Map(data.files),
            fromCache: data.fromCache,
            folded: new Map(data.graphs),
            foldMs: data.foldMs,
          });
      }
    };
    worker.postMessage({ baseUrl, cacheName: options.cacheName, prefetch: options.prefetch });
  });
}
