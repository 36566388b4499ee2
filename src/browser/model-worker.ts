/**
 * The model's files read (or downloaded) and their int8 weights folded in a worker: on a return visit the
 * runtime's start holds the page's main thread for about a second (compiling and instantiating its
 * wasm, starting its threads), and a worker does this meanwhile instead of after it. Started by
 * `loadModelFiles` (model-loading.ts), which speaks this protocol.
 */
import { foldDequantization } from './fold-constants.js';
import { fetchModelFiles, graphFiles } from './model-files.js';
import type { WorkerReply, WorkerRequest } from './model-loading.js';

const scope = globalThis as unknown as {
  onmessage: ((event: { data: WorkerRequest }) => void) | null;
  postMessage(message: WorkerReply, transfer?: ArrayBuffer[]): void;
};

scope.onmessage = ({ data }) => {
  void load(data).catch((error: unknown) => {
    const e = error as { code?: unknown; message?: unknown };
    scope.postMessage({
      type: 'error',
      code: typeof e?.code === 'string' ? e.code : 'MODEL_INVALID',
      message: typeof e?.message === 'string' ? e.message : String(error),
    });
  });
};

async function load(request: WorkerRequest): Promise<void> {
  const { config, files, fromCache } = await fetchModelFiles(request.baseUrl, {
    cacheName: request.cacheName,
    prefetch: request.prefetch,
    onProgress: (progress) => scope.postMessage({ type: 'progress', progress }),
    onCacheChecked: (cached) => scope.postMessage({ type: 'checked', fromCache: cached }),
  });
  const t0 = performance.now();
  for (const name of graphFiles(config)) {
    const bytes = files.get(name);
    if (bytes) files.set(name, foldDequantization(bytes));
  }
  const foldMs = performance.now() - t0;
  // Transferred, not copied (a slice first where a file is a view into a larger buffer).
  const own = [...files].map(([name, b]): [string, Uint8Array] => [
    name,
    b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice(),
  ]);
  scope.postMessage(
    { type: 'done', config, files: own, fromCache, foldMs },
    own.map(([, b]) => b.buffer as ArrayBuffer),
  );
}
