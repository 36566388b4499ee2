import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { registerGradients } from './gradients.js';

export type BackendName = 'wasm' | 'cpu';

let ready: Promise<BackendName> | undefined;

/**
 * Picks the tfjs backend once per thread: wasm (SIMD kernels), or the pure-JS cpu backend when wasm
 * cannot start or CAPTIONER_BACKEND=cpu. Also registers the gradient formulas training needs.
 */
export function initTf(preferred?: BackendName): Promise<BackendName> {
  ready ??= (async () => {
    tf.env().set('IS_TEST', false);
    tf.env().set('PROD', true);
    registerGradients();
    const want = preferred ?? (process.env.CAPTIONER_BACKEND as BackendName | undefined) ?? 'wasm';
    if (want === 'wasm') {
      try {
        if (await tf.setBackend('wasm')) {
          await tf.ready();
          return 'wasm';
        }
      } catch (error) {
        process.stderr.write(`captioner: warning: wasm backend unavailable (${(error as Error).message})\n`);
      }
      process.stderr.write('captioner: warning: falling back to the slow cpu backend\n');
    }
    await tf.setBackend('cpu');
    await tf.ready();
    return 'cpu';
  })();
  return ready;
}

export { tf };
