import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { averageWeights } from '../../src/model/average.js';
import { loadModel } from '../../src/model/model-folder.js';
import { EPOCHS_DIR, trainModel } from '../../src/train/trainer.js';
import { TINY_MODEL, tinyData } from '../helpers/tiny-model.js';

test('--keep-epochs keeps every epoch as a model folder, and averaging them is the mean of the weights', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-train-'));
  try {
    const result = await trainModel(tinyData(8, 1), {
      outDir: dir,
      arch: 'merge',
      model: { ...TINY_MODEL, labelSmoothing: 0.1 },
      epochs: 3,
      batchSize: 4,
      learningRate: 1e-2,
      seed: 5,
      clipNorm: 5,
      schedule: 'constant',
      patience: 0,
      threads: 1,
      resume: false,
      keepEpochs: true,
      progress: false,
      log: () => {},
    });
    const epochs = await Promise.all([1, 2, 3].map((n) => loadModel(join(dir, EPOCHS_DIR, String(n)))));
    assert.deepEqual(epochs[2].params, result.params);
    assert.notDeepEqual(epochs[0].params, epochs[1].params);
    const mean = averageWeights(epochs);
    for (const i of [0, 17, mean.length - 1]) {
      const expected = (epochs[0].params[i] + epochs[1].params[i] + epochs[2].params[i]) / 3;
      assert.ok(Math.abs(mean[i] - expected) < 1e-6);
    }
    const other = await loadModel(join(dir, EPOCHS_DIR, '1'));
    other.config = {
      ...other.config,
      model: { ...other.config.model, units: 99 } as typeof other.config.model,
    };
    assert.throws(() => averageWeights([epochs[0], other]), /another architecture or size/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
