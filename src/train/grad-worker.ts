import { parentPort, workerData } from 'node:worker_threads';
import type { ModelConfigBase, TrainBatch } from '../model/architecture.js';
import { getArchitecture } from '../model/architectures.js';
import { ParamLayout } from '../model/params.js';
import { initTf } from '../model/tf-backend.js';
import { computeGradients, computeLoss } from './gradients.js';

/** A gradient worker: its own tfjs-wasm instance, the weights and its gradient slot in shared memory. */
const { config, params, grads } = workerData as {
  config: ModelConfigBase;
  params: Float32Array;
  grads: Float32Array;
};
const arch = getArchitecture(config.arch);
const layout = new ParamLayout(arch.params(config));
const ready = initTf();

parentPort!.on('message', async (msg: { id: number; kind: 'grad' | 'loss'; batch: TrainBatch }) => {
  try {
    await ready;
    const r =
      msg.kind === 'grad'
        ? computeGradients(arch, config, layout, params, msg.batch, grads)
        : computeLoss(arch, config, layout, params, msg.batch);
    parentPort!.postMessage({ id: msg.id, lossSum: r.lossSum, tokens: r.tokens });
  } catch (error) {
    parentPort!.postMessage({ id: msg.id, error: (error as Error)?.stack ?? String(error) });
  }
});
