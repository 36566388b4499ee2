import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EnsembleStepDecoder } from '../../src/model/ensemble.js';
import { loadModel, saveEnsemble } from '../../src/model/model-folder.js';
import { initTf } from '../../src/model/tf-backend.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { tinyData, tinyModelDir } from '../helpers/tiny-model.js';

test('an ensemble averages its members’ next-word probabilities', async () => {
  await initTf();
  const features = tinyData(4, 1, 5);
  const images = [features.trainFeatures(0), features.trainFeatures(1)];
  const a = (await loadModel(await tinyModelDir(1))).decoder();
  const b = (await loadModel(await tinyModelDir(2))).decoder();
  const ensemble = new EnsembleStepDecoder([a, b]);
  const tokens = Int32Array.from([1, 1]);
  const pa = (await a.step(await a.start(images), tokens)).logProbs;
  const pb = (await b.step(await b.start(images), tokens)).logProbs;
  const { logProbs, state } = await ensemble.step(await ensemble.start(images), tokens);
  const V = ensemble.vocabSize;
  for (let r = 0; r < 2; r++) {
    let total = 0;
    for (let j = 0; j < V; j++) {
      const i = r * V + j;
      const mean = (Math.exp(pa[i]) + Math.exp(pb[i])) / 2;
      assert.ok(Math.abs(Math.exp(logProbs[i]) - mean) < 1e-6);
      total += Math.exp(logProbs[i]);
    }
    assert.ok(Math.abs(total - 1) < 1e-4);
  }
  // Reordering rows reorders every member.
  const swapped = ensemble.select(state, Int32Array.from([1, 0, 0]));
  assert.equal(swapped.rows, 3);
  ensemble.dispose();
});

test('an ensemble folder saves, loads, and refuses members that do not fit', async () => {
  await initTf();
  const members = [await loadModel(await tinyModelDir(1)), await loadModel(await tinyModelDir(2))];
  const dir = await mkdtemp(join(tmpdir(), 'captioner-ensemble-'));
  await saveEnsemble(dir, members, { decoding: { lengthPenalty: 0.7 } });
  const loaded = await loadModel(dir);
  assert.equal(loaded.members?.length, 2);
  assert.equal(loaded.config.decoding?.lengthPenalty, 0.7);
  assert.deepEqual(loaded.members![1].params, members[1].params);
  const decoder = loaded.decoder();
  assert.ok(decoder instanceof EnsembleStepDecoder);
  decoder.dispose();

  const other = Vocabulary.build(
    [['x', 'y', 'z', 'w', 'v', 'u', 'a', 'dog', 'cat', 'runs', 'sits', 'on']],
    1,
  );
  const stranger = await loadModel(await tinyModelDir(3, other));
  await assert.rejects(
    saveEnsemble(await mkdtemp(join(tmpdir(), 'e-')), [members[0], stranger]),
    /another vocabulary/,
  );
  await assert.rejects(saveEnsemble(dir, [members[0]]), /at least two/);
});
