import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The onnxruntime-web files the page loads: the WebAssembly build without WebGPU (SIMD, threads). */
export const ORT_FILES = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const;

/** Where the installed onnxruntime-web keeps them, and its version (the page asks for /ort/<version>/). */
export function onnxruntimeWebDist(): { dir: string; version: string } | undefined {
  try {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('onnxruntime-web'));
    const { version } = require(join(dir, '..', 'package.json')) as { version: string };
    return { dir, version };
  } catch {
    return undefined;
  }
}
