import { parentPort, workerData } from 'node:worker_threads';
import { loadCaptioner, type LoadCaptionerOptions } from './load-captioner.js';
import { serializeError, type PoolReply, type PoolRequest } from './pool-messages.js';

/**
 * One thread of a CaptionerPool: its own captioner (encoder and decoder sessions), one call at a time.
 * onnxruntime-node runs a session on the calling thread, so captioners in different threads are what
 * lets one process caption on several cores at once.
 */
const port = parentPort!;
const options = workerData as LoadCaptionerOptions;

try {
  const captioner = await loadCaptioner(options);
  port.on('message', (request: PoolRequest) => {
    void answer(request).then((reply) => port.postMessage(reply));
  });
  port.postMessage({ ready: captioner.card } satisfies PoolReply);

  async function answer({ id, inputs, options: captionOptions }: PoolRequest): Promise<PoolReply> {
    try {
      const images = inputs.map((input) => (typeof input === 'string' ? input : Buffer.from(input)));
      const results = await captioner.captionMany(images, captionOptions);
      return {
        id,
        results: results.map((r) => ('error' in r ? { error: serializeError(r.error) } : r)),
      };
    } catch (error) {
      return { id, error: serializeError(error) };
    }
  }
} catch (error) {
  port.postMessage({ failed: serializeError(error) } satisfies PoolReply);
}
