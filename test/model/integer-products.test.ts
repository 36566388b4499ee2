import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { test } from 'node:test';
import { buildDecodeGraphs } from '../../src/model/decode-graphs.js';
import { loadModel, type LoadedModel } from '../../src/model/model-folder.js';
import { OnnxStepDecoder } from '../../src/model/onnx-step-decoder.js';
import { openDecoder } from '../../src/model/open-decoder.js';
import type { StepDecoder } from '../../src/model/step-decoder.js';
import { Rng } from '../../src/util/random.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

const contains = (bytes: Uint8Array, text: string) => Buffer.from(bytes).includes(Buffer.from(text));

/** A tiny merge model saved with Q8 weights (its matrices int8, scaled per column; the embedding per row). */
/** Runs `body` on a tiny Q8 model folder (loaded) and three images' features; removes the folder after. */
async function withQ8Model(body: (model: LoadedModel, features: Float32Array[]) => Promise<void>) {
  // Weights ×2: more peaked distributions than at init.
  const dir = await tinyModelDir(3, undefined, 2, 'Q8');
  const rng = new Rng(5);
  const features = [0, 1, 2].map(() => Float32Array.from({ length: 5 }, () => rng.next() * 2));
  try {
    await body(await loadModel(dir), features);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The next-word log-probabilities of each step as `tokens` are fed in turn (one token for every image); disposes the decoder. */
async function stepLogProbs(
  decoder: StepDecoder,
  features: Float32Array[],
  tokens: number[],
): Promise<Float32Array[]> {
  let state = await decoder.start(features);
  const out: Float32Array[] = [];
  for (const token of tokens) {
    const r = await decoder.step(state, new Int32Array(features.length).fill(token));
    out.push(r.logProbs);
    state = r.state;
  }
  decoder.dispose();
  return out;
}

test('a Q8 model folder keeps its int8 matrices as stored: kernels per column, the embedding per row', () =>
  withQ8Model(async (model) => {
    assert.ok(model.int8, 'int8 matrices kept');
    assert.equal(model.int8.get('embedding')!.perRow, true);
    assert.equal(model.int8.get('output.kernel')!.perRow, false);
    const { values, scales } = model.int8.get('output.kernel')!;
    const loaded = model.layout.view(model.params, 'output.kernel');
    const cols = scales.length;
    assert.ok(loaded.every((v, i) => v === Math.fround(values[i] * scales[i % cols])));
  }));

test('integer products: DynamicQuantizeMatMul in the step graph, next-word log-probabilities close to the float ones', () =>
  withQ8Model(async (model, features) => {
    const members = [{ ...model, config: model.config.model }];
    const integer = buildDecodeGraphs(members, { integerProducts: true });
    const float = buildDecodeGraphs(
      members.map((m) => ({ ...m, int8: undefined })),
      { integerProducts: true }, // no int8 weights: nothing to run in integers
    );
    assert.ok(contains(integer.step, 'DynamicQuantizeMatMul') && contains(integer.step, 'com.microsoft'));
    assert.ok(!contains(float.step, 'DynamicQuantizeMatMul'));
    assert.ok(!contains(float.step, '.q8'), 'float decoding carries no int8 weights');

    const run = async (integerProducts: boolean) =>
      stepLogProbs(await openDecoder(model, { integerProducts }), features, [1, 5, 6]);
    const [a, b] = [await run(false), await run(true)];
    let worst = 0;
    let sameBest = 0;
    const V = model.vocabulary.size;
    a.forEach((step, s) => {
      for (let r = 0; r < features.length; r++) {
        const x = step.subarray(r * V, (r + 1) * V);
        const y = b[s].subarray(r * V, (r + 1) * V);
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(x[v] - y[v]));
        if (x.indexOf(Math.max(...x)) === y.indexOf(Math.max(...y))) sameBest++;
      }
    });
    assert.ok(worst > 0, 'the activations are quantized: not the same numbers');
    assert.ok(worst < 0.05, `log-probabilities within 0.05 of the float ones (worst ${worst})`);
    assert.equal(sameBest, 3 * features.length, 'the same most likely word at every step');
  }));

/** How many nodes of each type a serialized graph has. */
function opCounts(bytes: Uint8Array): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of onnxProto.onnx.ModelProto.decode(bytes).graph?.node ?? [])
    counts.set(n.opType ?? '', (counts.get(n.opType ?? '') ?? 0) + 1);
  return counts;
}

test('integer products for listed weights only; an int8 embedding folds into its product when asked', () =>
  withQ8Model(async (model, features) => {
    const members = [{ ...model, config: model.config.model }];
    const dqmm = (options: Parameters<typeof buildDecodeGraphs>[1]) =>
      opCounts(buildDecodeGraphs(members, options).step).get('DynamicQuantizeMatMul') ?? 0;
    const all = dqmm({ integerProducts: true });
    assert.ok(all >= 3, `${all} integer products`);
    assert.equal(dqmm({ integerProducts: ['output.kernel'] }), 1);
    assert.equal(dqmm({ integerProducts: [] }), 0);
    // Folded, the embedding's product is a constant table (onnxruntime computes it at load): one
    // integer product fewer, the lookup reads its rows.
    assert.equal(dqmm({ integerProducts: true, foldInt8Lookups: true }), all - 1);

    // openDecoder folds: the next-word log-probabilities stay close to the float decoder's.
    const logProbs = async (integerProducts: boolean | string[]) =>
      (await stepLogProbs(await openDecoder(model, { integerProducts }), features, [5]))[0];
    const float = await logProbs(false);
    for (const p of [true, ['output.kernel']]) {
      const got = await logProbs(p);
      const worst = got.reduce((w, v, i) => Math.max(w, Math.abs(v - float[i])), 0);
      assert.ok(worst > 0 && worst < 0.05, `${JSON.stringify(p)}: worst ${worst}`);
    }
  }));

test('integer products written in standard float operators (for the browser bundle) give the same numbers bit for bit', () =>
  withQ8Model(async (model, features) => {
    const members = [{ ...model, config: model.config.model }];
    const portable = buildDecodeGraphs(members, { integerProducts: true, integersInFloats: true });
    const counts = opCounts(portable.step);
    assert.equal(counts.get('DynamicQuantizeMatMul') ?? 0, 0);
    assert.ok((counts.get('DynamicQuantizeLinear') ?? 0) >= 3);
    const run = async (integersInFloats: boolean) =>
      stepLogProbs(
        await OnnxStepDecoder.create(buildDecodeGraphs(members, { integerProducts: true, integersInFloats })),
        features,
        [1, 5, 6, 7],
      );
    assert.deepEqual(await run(true), await run(false));
  }));

test('an int8 embedding unfolded dequantizes only the rows it looks up: the float table’s numbers bit for bit', () =>
  withQ8Model(async (model, features) => {
    const members = [{ ...model, config: model.config.model }];
    const int8 = buildDecodeGraphs(members);
    const float = buildDecodeGraphs(members.map((m) => ({ ...m, int8: undefined })));
    assert.ok(contains(int8.step, 'embedding.q8'), 'the table stays int8 in the graph');
    assert.equal(opCounts(int8.step).get('Gather'), (opCounts(float.step).get('Gather') ?? 0) + 1);
    const run = async (graphs: typeof int8) =>
      stepLogProbs(await OnnxStepDecoder.create(graphs), features, [1, 5, 6, 7]);
    assert.deepEqual(await run(int8), await run(float));
  }));
