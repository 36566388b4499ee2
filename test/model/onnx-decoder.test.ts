import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { beamSearch } from '../../src/decode/beam-search.js';
import { loadModel, saveEnsemble } from '../../src/model/model-folder.js';
import { OnnxStepDecoder } from '../../src/model/onnx-step-decoder.js';
import { openDecoder } from '../../src/model/open-decoder.js';
import type { StepDecoder } from '../../src/model/step-decoder.js';
import { tinyData, tinyModelDir } from '../helpers/tiny-model.js';

const images = tinyData(4, 1, 5);
const vectors = [0, 1, 2, 3].map((i) => images.trainFeatures(i));

/** An ensemble's step is the log of the mean of its members' probabilities, row for row. */
async function assertEnsembleSteps(members: StepDecoder[], ensemble: StepDecoder): Promise<void> {
  let states = await Promise.all(members.map((m) => m.start(vectors)));
  let joint = await ensemble.start(vectors);
  const feeds = [
    { tokens: [1, 1, 1, 1] },
    { tokens: [4, 5, 6, 7, 8, 9], rows: [0, 0, 1, 2, 3, 3] },
    { tokens: [9, 8, 7, 6, 5, 4], rows: [5, 4, 3, 2, 1, 0] },
  ];
  for (const { tokens, rows } of feeds) {
    if (rows) {
      states = states.map((s, k) => members[k].select(s, Int32Array.from(rows)));
      joint = ensemble.select(joint, Int32Array.from(rows));
    }
    const outs = await Promise.all(members.map((m, k) => m.step(states[k], Int32Array.from(tokens))));
    const y = await ensemble.step(joint, Int32Array.from(tokens));
    assert.equal(y.logProbs.length, tokens.length * ensemble.vocabSize);
    for (let i = 0; i < y.logProbs.length; i++) {
      const mean = outs.reduce((a, o) => a + Math.exp(o.logProbs[i]), 0) / outs.length;
      assert.ok(
        Math.abs(Math.log(mean) - y.logProbs[i]) < 1e-4,
        `log-prob ${i}: ${Math.log(mean)} vs ${y.logProbs[i]}`,
      );
    }
    states = outs.map((o) => o.state);
    joint = y.state;
  }
}

test("an ensemble decodes as one graph that averages its members' probabilities", async () => {
  const a = await loadModel(await tinyModelDir(1, undefined, 3));
  const b = await loadModel(await tinyModelDir(2, undefined, 3));
  const dir = await mkdtemp(join(tmpdir(), 'captioner-onnx-ensemble-'));
  await saveEnsemble(dir, [a, b]);
  const ensemble = await loadModel(dir);
  const members = [await openDecoder(a), await openDecoder(b)];
  const joint = await openDecoder(ensemble);
  assert.ok(joint instanceof OnnxStepDecoder);
  await assertEnsembleSteps(members, joint);
  const options = { beam: 3, results: 3, maxLength: 6, lengthPenalty: 0.7 };
  const found = await beamSearch(joint, vectors, ensemble.vocabulary, options);
  assert.ok(
    found.flat().some((c) => c.tokens.length > 0),
    'the tiny ensemble writes something',
  );
  for (const d of [...members, joint]) d.dispose();
});

test('the onnxruntime decoder refuses bad input with a clear message', async () => {
  const model = await loadModel(await tinyModelDir(1));
  const onnx = await openDecoder(model);
  await assert.rejects(onnx.start([new Float32Array(3)]), /image vector has 3 values, the model reads 5/);
  const state = await onnx.start(vectors.slice(0, 2));
  await assert.rejects(onnx.step(state, Int32Array.from([1])), /1 tokens for 2 rows/);
  await assert.rejects(
    onnx.step(state, Int32Array.from([1, model.vocabulary.size])),
    /outside the vocabulary/,
  );
  assert.throws(() => onnx.select(state, Int32Array.from([2])), /row 2 of 2/);
  assert.equal((await onnx.start([])).rows, 0);
  onnx.dispose();
});

test('select keeps the constant state while rows decode the same images, and moves it when they change', async () => {
  const model = await loadModel(await tinyModelDir(1));
  const onnx = await openDecoder(model);
  const [v0, v1] = vectors;
  const ones = Int32Array.from([1, 1, 1, 1]);
  // Beams of two images; after a step, rows swap within their image (the constant state is kept)…
  let a = onnx.select(await onnx.start([v0, v1]), Int32Array.from([0, 0, 1, 1]));
  a = onnx.select((await onnx.step(a, ones)).state, Int32Array.from([1, 0, 3, 2]));
  const b = (await onnx.step(await onnx.start([v0, v0, v1, v1]), ones)).state;
  const tokens = Int32Array.from([4, 5, 6, 7]);
  assert.deepEqual((await onnx.step(a, tokens)).logProbs, (await onnx.step(b, tokens)).logProbs);
  // …then the images change order (as many rows: only the images tell): the constant state follows.
  const order = Int32Array.from([2, 3, 0, 1]);
  const fresh = (await onnx.step(await onnx.start([v1, v1, v0, v0]), ones)).state;
  const more = Int32Array.from([8, 9, 4, 5]);
  const expected = (await onnx.step(fresh, more)).logProbs;
  assert.deepEqual((await onnx.step(onnx.select(a, order), more)).logProbs, expected);
  assert.deepEqual((await onnx.step(onnx.select(b, order), more)).logProbs, expected);
  onnx.dispose();
});
