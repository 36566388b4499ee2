/**
 * The model's files read (or downloaded) and their int8 weights folded in a worker: on a return visit the
 * runtime's start holds the page's main thread for about a second (compiling and instantiating its
 * wasm, starting its threads), and a worker does this meanwhile instead of after it. Started by
 * `loadModelFiles` (model-loading.ts), which speaks this protocol.
 */
import type { ModelSource } from '../runtime/session-core.js';
import { foldGraph } from './fold-constants.js';
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
  const graphs: [string, ModelSource][] = [];
  for (const name of graphFiles(config)) {
    const bytes = files.get(name);
    if (!bytes) continue;
    files.delete(name);
    graphs.push([name, foldGraph(name, own(bytes))]);
  }
  const foldMs = performance.now() - t0;
  const rest = [...files].map(([name, b]): [string, Uint8Array] => [name, own(b)]);
  // Transferred, not copied: each buffer once (a graph's unfolded weights are views into its file's).
  const views = [
    ...rest.map(([, b]) => b),
    ...graphs.flatMap(([, g]) =>
      g instanceof Uint8Array ? [g] : [g.model, ...g.externalData.map((e) => e.data)],
    ),
  ];
  const buffers = [...new Set(views.map((b) => b.buffer as ArrayBuffer))];
  scope.postMessage({ type: 'done', config, files: rest, graphs, fromCache, foldMs }, buffers);
}

/** The bytes in a buffer of their own (a copy where they are a view into a larger one): transferable. */
function own(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice();
}
