import { fileURLToPath } from 'node:url';
import { defaultClientConditions, type Plugin, type UserConfig } from 'vite';

const NODE_RUNTIME = fileURLToPath(new URL('../src/runtime/onnx.ts', import.meta.url));
const WEB_RUNTIME = fileURLToPath(new URL('../src/runtime/onnx-web.ts', import.meta.url));

/**
 * The browser build of the captioner's code: `src/runtime/onnx.ts` (onnxruntime-node) becomes its
 * sibling `onnx-web.ts` (onnxruntime-web), the one swap that lets the step decoder, the beam search and
 * the bundle captioner run unchanged in the page.
 */
export function browserRuntime(): Plugin {
  return {
    name: 'captioner-browser-runtime',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (!importer) return null;
      const swap = /\/runtime\/onnx(\.js|\.ts)?$/.test(source);
      if (!swap && !/onnx-export|onnx-proto/.test(source)) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (!resolved) return null;
      if (swap) return resolved.id === NODE_RUNTIME ? WEB_RUNTIME : null;
      // The ONNX writer (and its protobuf library) comes along with the graph names the decoder
      // imports; the browser only runs graphs, so let the bundler drop it when nothing uses it.
      return { ...resolved, moduleSideEffects: false };
    },
  };
}

/**
 * onnxruntime-web without its wasm glue inlined: the page loads ort-wasm-simd-threaded.mjs and .wasm
 * from `wasmPaths` (the server's /ort/<version>/, or the static build's copy), which is also what its
 * threads' workers load.
 */
export const browserResolve: UserConfig['resolve'] = {
  conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
};

/**
 * Rollup options the browser builds share: the shared modules' Node imports (fs in Vocabulary.load, for
 * one) are never called in the browser; Vite stubs them, and its warning about each is dropped here.
 */
export const browserRollup: NonNullable<NonNullable<UserConfig['build']>['rollupOptions']> = {
  onLog(level, log, handler) {
    if (log.message?.includes('has been externalized for browser compatibility')) return;
    handler(level, log);
  },
};
