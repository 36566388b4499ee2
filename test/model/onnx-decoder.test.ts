import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { beamSearch } from '../../src/decode/beam-search.js';
import { loadModel, saveEnsemble, type LoadedModel } from '../../src/model/model-folder.js';
import { OnnxStepDecoder } from '../../src/model/onnx-step-decoder.js';
import { openDecoder } from '../../src/model/open-decoder.js';
import type { StepDecoder } from '../../src/model/step-decoder.js';
import { tinyData, tinyModelDir } from '../helpers/tiny-model.js';

const images = tinyData(4, 1, 5);
const vectors = [0, 1, 2, 3].map((i) => images.trainFeatures(i));

async function bothRuntimes(model: LoadedModel): Promise<[StepDecoder, StepDecoder]> {
  return [await openDecoder(model, { runtime: 'tfjs' }), await openDecoder(model)];
}

/** Runs the same steps (with a beam-like reorder in between) through both decoders. */
async function assertSameSteps(tfjs: StepDecoder, onnx: StepDecoder): Promise<void> {
  let a = await tfjs.start(vectors);
  let b = await onnx.start(vectors);
  const feeds = [
    { tokens: [1, 1, 1, 1] },
    { tokens: [4, 5, 6, 7, 8, 9], rows: [0, 0, 1, 2, 3, 3] },
    { tokens: [9, 8, 7, 6, 5, 4], rows: [5, 4, 3, 2, 1, 0] },
  ];
  for (const { tokens, rows } of feeds) {
    if (rows) {
      a = tfjs.select(a, Int32Array.from(rows));
      b = onnx.select(b, Int32Array.from(rows));
    }
    const x = await tfjs.step(a, Int32Array.from(tokens));
    const y = await onnx.step(b, Int32Array.from(tokens));
    assert.equal(y.logProbs.length, tokens.length * tfjs.vocabSize);
    for (let i = 0; i < x.logProbs.length; i++)
      assert.ok(
        Math.abs(x.logProbs[i] - y.logProbs[i]) < 1e-4,
        `log-prob ${i}: ${x.logProbs[i]} vs ${y.logProbs[i]}`,
      );
    a = x.state;
    b = y.state;
  }
}

test('the onnxruntime decoder computes what the tfjs one does, for a model and an ensemble', async () => {
  const single = await loadModel(await tinyModelDir(1, undefined, 3));
  const dir = await mkdtemp(join(tmpdir(), 'captioner-onnx-ensemble-'));
  await saveEnsemble(dir, [single, await loadModel(await tinyModelDir(2, undefined, 3))]);
  for (const model of [single, await loadModel(dir)]) {
    const [tfjs, onnx] = await bothRuntimes(model);
    assert.ok(onnx instanceof OnnxStepDecoder);
    assert.ok(!(tfjs instanceof OnnxStepDecoder));
    await assertSameSteps(tfjs, onnx);
    // Beam search over a batch finds the same captions with the same scores.
    const options = { beam: 3, results: 3, maxLength: 6, lengthPenalty: 0.7 };
    const x = await beamSearch(tfjs, vectors, model.vocabulary, options);
    const y = await beamSearch(onnx, vectors, model.vocabulary, options);
    assert.deepEqual(
      y.map((list) => list.map((c) => c.text)),
      x.map((list) => list.map((c) => c.text)),
    );
    x.flat().forEach((c, i) => assert.ok(Math.abs(c.score - y.flat()[i].score) < 1e-4));
    assert.ok(
      x.flat().some((c) => c.tokens.length > 0),
      'the tiny model writes something',
    );
    tfjs.dispose();
    onnx.dispose();
  }
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
