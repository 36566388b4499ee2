import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getArchitecture } from '../../src/model/architectures.js';
import type { ModelConfigBase } from '../../src/model/architecture.js';
import { ParamLayout } from '../../src/model/params.js';
import { initTf, tf } from '../../src/model/tf-backend.js';
import { makeBatch } from '../../src/train/batches.js';
import { computeGradients, computeLoss } from '../../src/train/gradients.js';
import { Rng } from '../../src/util/random.js';
import { TINY_MODEL, tinyData, tinyMergeModel } from '../helpers/tiny-model.js';

test('LSTM, embedding and loss gradients match finite differences', async () => {
  await initTf();
  const data = tinyData(4, 1, 5);
  const arch = getArchitecture('merge');
  const config = arch.validate({
    ...arch.defaults(data.vocabulary.size, data.featureDim),
    ...TINY_MODEL,
    imageDropout: 0,
    embedDropout: 0,
  } as ModelConfigBase);
  const layout = new ParamLayout(arch.params(config));
  const params = new Float32Array(layout.total);
  arch.init(config, layout, params, new Rng(3));
  // Larger weights than the init so every gate and the recurrence matter.
  for (let i = 0; i < params.length; i++) params[i] *= 3;
  const batch = makeBatch(
    data.train,
    data.trainFeatures,
    data.featureDim,
    new Uint32Array(data.train.length),
  );
  const grads = new Float32Array(layout.total);
  computeGradients(arch, config, layout, params, batch, grads);
  const rng = new Rng(9);
  for (const spec of layout.specs) {
    const i0 = layout.offsets[layout.specs.indexOf(spec)];
    const size = layout.sizes[layout.specs.indexOf(spec)];
    for (let trial = 0; trial < 4; trial++) {
      const i = i0 + Math.floor(rng.next() * size);
      const eps = 1e-3;
      const keep = params[i];
      params[i] = keep + eps;
      const up = computeLoss(arch, config, layout, params, batch).lossSum;
      params[i] = keep - eps;
      const down = computeLoss(arch, config, layout, params, batch).lossSum;
      params[i] = keep;
      const numeric = (up - down) / (2 * eps);
      const tolerance = 1.5e-2 + 2e-2 * Math.abs(numeric); // float32 loss, central differences
      assert.ok(
        Math.abs(numeric - grads[i]) < tolerance,
        `${spec.name}[${i - i0}]: analytic ${grads[i]}, numeric ${numeric}`,
      );
    }
  }
});

test('the cpu fallback backend computes the gradients wasm computes', async () => {
  await initTf();
  const data = tinyData(6, 2, 5);
  const { arch, config, layout, params } = tinyMergeModel(data, 4);
  const batch = makeBatch(
    data.train,
    data.trainFeatures,
    data.featureDim,
    Uint32Array.from(data.train, (_, i) => i),
  );
  const onWasm = new Float32Array(layout.total);
  const onCpu = new Float32Array(layout.total);
  const a = computeGradients(arch, config, layout, params, batch, onWasm);
  await tf.setBackend('cpu');
  try {
    const b = computeGradients(arch, config, layout, params, batch, onCpu);
    assert.ok(Math.abs(a.lossSum - b.lossSum) < 1e-4 * Math.abs(a.lossSum));
  } finally {
    await tf.setBackend('wasm');
  }
  for (let i = 0; i < layout.total; i++)
    assert.ok(
      Math.abs(onWasm[i] - onCpu[i]) < 1e-4 + 1e-4 * Math.abs(onWasm[i]),
      `gradient ${i}: ${onWasm[i]} vs ${onCpu[i]}`,
    );
});
