import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel, saveModel } from '../../src/model/model-folder.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/model/safetensors.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/util/float16.js';
import { makeBatch } from '../../src/train/batches.js';
import { TrainingEngine } from '../../src/train/engine.js';
import { openDecoder, openWeightsDecoder } from '../../src/model/open-decoder.js';
import { Rng } from '../../src/util/random.js';
import { tinyData, tinyMergeModel } from '../helpers/tiny-model.js';

function tinyModel() {
  const data = tinyData(4, 1, 5);
  return { data, ...tinyMergeModel(data, 5) };
}

test('safetensors: float32 bit for bit, float16 to half precision', () => {
  const data = Float32Array.from([0, -0, 1.5, -2.25e-5, 65504, 1e-8, Math.PI, NaN]);
  const bytes = Buffer.concat(encodeSafetensors([{ name: 'x', shape: [2, 4], data }]));
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  const back = decodeSafetensors(bytes).tensors.get('x')!;
  assert.deepEqual(back.shape, [2, 4]);
  assert.deepEqual(new Uint8Array(back.data.buffer), new Uint8Array(data.buffer));
  const half = decodeSafetensors(
    Buffer.concat(encodeSafetensors([{ name: 'x', shape: [8], data }], { dtype: 'F16' })),
  );
  const h = half.tensors.get('x')!.data;
  assert.equal(h[2], 1.5);
  assert.equal(h[4], 65504);
  assert.ok(Math.abs(h[6] - Math.PI) < 2e-3);
  assert.ok(Number.isNaN(h[7]));
  assert.equal(fromFloat16Bits(toFloat16Bits(1 / 3)), 0.333251953125);
});

test('safetensors Q8: a kernel scaled per column, a lookup table per row, each within half a step', () => {
  const rng = new Rng(8);
  const data = Float32Array.from({ length: 3 * 50 }, () => rng.next() * 2 - 1);
  data.fill(0, 50, 100); // an all-zero row
  for (let r = 0; r < 3; r++) data[r * 50 + 7] = 0; // an all-zero column
  const bias = Float32Array.from([0.1, -0.2, 0.3]);
  const bytes = Buffer.concat(
    encodeSafetensors(
      [
        { name: 'w', shape: [3, 50], data },
        { name: 'table', shape: [3, 50], data, lookup: true },
        { name: 'b', shape: [3], data: bias },
      ],
      { dtype: 'Q8' },
    ),
  );
  assert.ok(bytes.length < 2 * (3 * 50) + 50 * 4 + 3 * 4 + 3 * 4 + 500);
  const file = decodeSafetensors(bytes);
  assert.deepEqual([...file.tensors.keys()].sort(), ['b', 'table', 'w']);
  assert.deepEqual(file.tensors.get('b')!.data, bias);
  const within = (
    name: string,
    group: (r: number, c: number) => number,
    members: (k: number) => number[],
  ) => {
    const t = file.tensors.get(name)!;
    assert.equal(t.dtype, 'Q8');
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 50; c++) {
        const i = r * 50 + c;
        const step = Math.max(...members(group(r, c)).map((j) => Math.abs(data[j]))) / 127;
        assert.ok(Math.abs(t.data[i] - data[i]) <= step / 2 + 1e-7, `${name}[${r}, ${c}]`);
        assert.equal(t.data[i], Math.fround(t.int8!.values[i] * t.int8!.scales[group(r, c)]));
      }
  };
  within(
    'w',
    (_r, c) => c,
    (c) => [c, 50 + c, 100 + c],
  );
  within(
    'table',
    (r) => r,
    (r) => Array.from({ length: 50 }, (_, c) => r * 50 + c),
  );
  assert.equal(file.tensors.get('w')!.int8!.perRow, false);
  assert.equal(file.tensors.get('table')!.int8!.perRow, true);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
  assert.equal(header.w.dtype, 'I8');
  assert.deepEqual(header['w.q8_scale'].shape, [1, 50]);
  assert.deepEqual(header['table.q8_scale'].shape, [3]);
});

test('safetensors Q8: scales that fit neither rows nor columns are refused', () => {
  const header = JSON.stringify({
    w: { dtype: 'I8', shape: [2, 2], data_offsets: [0, 4] },
    'w.q8_scale': { dtype: 'F32', shape: [3], data_offsets: [4, 16] },
  });
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const file = Buffer.concat([prefix, Buffer.from(header), Buffer.from([1, 2, 3, 4]), Buffer.alloc(12)]);
  assert.throws(
    () => decodeSafetensors(file, 'w.safetensors'),
    /w\.safetensors: w is int8 without a w\.q8_scale of one value per row/,
  );
});

test('a saved model loads back bit for bit and decodes like the training graph', async () => {
  const { data, config, layout, params, arch } = tinyModel();
  const dir = await mkdtemp(join(tmpdir(), 'captioner-model-'));
  try {
    await saveModel(dir, {
      model: config,
      encoder: null,
      cleaning: data.cleaning,
      maxCaptionLength: data.maxCaptionLength,
      vocabulary: data.vocabulary,
      params,
    });
    const loaded = await loadModel(dir);
    assert.deepEqual(new Uint8Array(loaded.params.buffer), new Uint8Array(params.buffer));
    assert.equal(loaded.vocabulary.size, data.vocabulary.size);

    // The decoding graph and the training graph both derive from the one model definition:
    // teacher-forced step decoding gives the training graph's summed loss without dropout.
    const item = data.train[0];
    const decoder = await openDecoder(loaded);
    let state = await decoder.start([data.trainFeatures(item.image)]);
    let nll = 0;
    const inputs = [1, ...item.tokens];
    const targets = [...item.tokens, 2];
    for (let t = 0; t < inputs.length; t++) {
      const out = await decoder.step(state, Int32Array.from([inputs[t]]));
      nll -= out.logProbs[targets[t]];
      state = out.state;
    }
    decoder.dispose();
    const batch = makeBatch([item], data.trainFeatures, data.featureDim, new Uint32Array(1));
    const engine = new TrainingEngine(arch, config, layout, { rows: 1, threads: 1 });
    engine.params.set(params);
    const graph = (await engine.loss(batch)).lossSum;
    await engine.close();
    assert.ok(Math.abs(nll - graph) < 1e-3 * Math.max(1, graph), `step ${nll} vs graph ${graph}`);

    // A vocabulary that does not fit is refused with a clear message.
    await writeFile(
      join(dir, 'vocab.json'),
      JSON.stringify({
        ...data.vocabulary.toJSON(),
        tokens: data.vocabulary.tokens.slice(0, -1),
        counts: data.vocabulary.counts.slice(0, -1),
      }),
    );
    await assert.rejects(loadModel(dir), /vocab\.json has \d+ ids but the model was built for/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('step decoder select reorders rows', async () => {
  const { data, config, layout, params, arch } = tinyModel();
  const decoder = await openWeightsDecoder({ architecture: arch, config, layout, params });
  const s0 = await decoder.start([data.trainFeatures(0), data.trainFeatures(1)]);
  const a = await decoder.step(s0, Int32Array.from([1, 1]));
  const swapped = await decoder.step(
    decoder.select(s0, Int32Array.from([1, 0, 1])),
    Int32Array.from([1, 1, 1]),
  );
  const V = decoder.vocabSize;
  assert.equal(swapped.state.rows, 3);
  for (let k = 0; k < V; k++) {
    assert.ok(Math.abs(swapped.logProbs[k] - a.logProbs[V + k]) < 1e-5);
    assert.ok(Math.abs(swapped.logProbs[V + k] - a.logProbs[k]) < 1e-5);
  }
  decoder.dispose();
});
