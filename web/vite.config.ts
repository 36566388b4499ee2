import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { onnxruntimeWebDist, ORT_FILES } from '../src/export/ort-files.js';
import { browserResolve, browserRollup, browserRuntime } from './vite.shared.js';

/**
 * onnxruntime-web's loader fetched and compiled with the page rather than when the page's script asks
 * for it (its start is the longest part of a return visit's wait): the page's ort/<version>/ path.
 */
function preloadRuntime(): Plugin {
  return {
    name: 'captioner-preload-runtime',
    transformIndexHtml() {
      const ort = onnxruntimeWebDist();
      if (!ort) return [];
      const href = `ort/${ort.version}/${ORT_FILES[0]}`;
      return [{ tag: 'link', attrs: { rel: 'modulepreload', href }, injectTo: 'head' }];
    },
  };
}

// The page is plain TypeScript; `npm run build` writes it to web/dist, which the server serves at /.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the built page also works from a sub-folder of a static host (captioner export --with-page).
  base: './',
  plugins: [browserRuntime(), preloadRuntime()],
  resolve: browserResolve,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Modern browsers only: no inline polyfill, so the page runs under a strict CSP (script-src 'self').
    modulePreload: { polyfill: false },
    target: 'es2022',
    rollupOptions: browserRollup,
  },
  server: {
    // `npx vite web` during development: the API comes from `npm start` on port 3000.
    proxy: {
      '/api': 'http://localhost:3000',
      '/healthz': 'http://localhost:3000',
      '/model': 'http://localhost:3000',
      '/ort': 'http://localhost:3000',
    },
    // Cross-origin isolation, for WebAssembly threads (as the server sends them).
    headers: { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' },
  },
});
