import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { browserResolve, browserRollup, browserRuntime } from './vite.shared.js';

/**
 * The package's browser entry point (`import { loadCaptioner } from 'captioner/browser'`): src/browser
 * bundled into one ES module, dist/browser/captioner-browser.js (its types are tsc's
 * dist/browser/index.d.ts). onnxruntime-web stays an import, for the application's bundler to resolve.
 */
export default defineConfig({
  plugins: [browserRuntime()],
  resolve: browserResolve,
  // The model-loading worker (dist/browser/assets/) is found relative to this module, wherever an
  // application serves the package from.
  base: './',
  logLevel: 'warn',
  build: {
    lib: {
      entry: fileURLToPath(new URL('../src/browser/index.ts', import.meta.url)),
      formats: ['es'],
      fileName: () => 'captioner-browser.js',
    },
    outDir: fileURLToPath(new URL('../dist/browser', import.meta.url)),
    emptyOutDir: false, // tsc's declarations are there
    target: 'es2022',
    minify: false,
    sourcemap: true,
    rollupOptions: { ...browserRollup, external: [/^onnxruntime-web(\/.*)?$/] },
  },
});
