import { parentPort, workerData } from 'node:worker_threads';
import { getArchitecture } from '../model/architectures.js';
import { ParamLayout } from '../model/params.js';
import { initTf } from '../model/tf-backend.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './engine.js';
import { computeGradients, computeLoss } from './gradients.js';
import { FlatAdam, scaledSquares } from './optimizer.js';

/**
 * A gradient worker: its own tfjs-wasm instance, the weights and the gradient buffers in shared memory,
 * and the Adam state of its share [begin, end) of the flat weights.
 */
const { config, params, grads, index, begin, end } = workerData as WorkerData;
const arch = getArchitecture(config.arch);
const layout = new ParamLayout(arch.params(config));
const ready = initTf();
const own = grads[index];
const share = grads[0].subarray(begin, end); // the summed gradient of the share lands here
let adam: FlatAdam | undefined;
const optimizer = () => (adam ??= new FlatAdam(params.subarray(begin, end), 1e-3));

async function handle(msg: WorkerRequest): Promise<WorkerReply> {
  await ready;
  switch (msg.kind) {
    case 'grad':
      return { id: msg.id, ...computeGradients(arch, config, layout, params, msg.batch, own) };
    case 'loss':
      return { id: msg.id, ...computeLoss(arch, config, layout, params, msg.batch) };
    case 'reduce': {
      // Every worker has finished its gradient: sum the buffers over this share, in worker order
      // (the same float32 additions as summing whole buffers).
      const scale = 1 / Math.max(1, msg.tokens);
      if (grads.length === 1) return { id: msg.id, squares: scaledSquares(share, scale) };
      for (let w = 1; w < grads.length - 1; w++) addInto(share, grads[w].subarray(begin, end));
      const squares = addIntoWithSquares(share, grads[grads.length - 1].subarray(begin, end), scale);
      return { id: msg.id, squares };
    }
    case 'apply': {
      scaleBy(share, msg.factor);
      const opt = optimizer();
      opt.learningRate = msg.learningRate;
      opt.step(share);
      return { id: msg.id, done: true };
    }
    case 'getState':
      return { id: msg.id, state: await optimizer().getState() };
    case 'setState':
      await optimizer().setState(msg.state);
      return { id: msg.id, done: true };
  }
}

// Hot loops live in small functions of their own, where V8 optimizes them (not inside the async switch).
function addInto(sum: Float32Array, g: Float32Array): void {
  for (let i = 0; i < sum.length; i++) sum[i] += g[i];
}

/** addInto, and Σ (sum·scale)² of the float32 sums in the same pass (as scaledSquares would give). */
function addIntoWithSquares(sum: Float32Array, g: Float32Array, scale: number): number {
  let sq = 0;
  for (let i = 0; i < sum.length; i++) {
    const s = Math.fround(sum[i] + g[i]);
    sum[i] = s;
    const x = s * scale;
    sq += x * x;
  }
  return sq;
}

function scaleBy(g: Float32Array, factor: number): void {
  for (let i = 0; i < g.length; i++) g[i] *= factor;
}

parentPort!.on('message', (msg: WorkerRequest) => {
  handle(msg).then(
    (reply) => parentPort!.postMessage(reply),
    (error: unknown) =>
      parentPort!.postMessage({ id: msg.id, error: (error as Error)?.stack ?? String(error) }),
  );
});
