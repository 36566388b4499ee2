import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attentionArchitecture, type AttentionConfig } from '../../src/model/arch/attention.js';
import { openWeightsDecoder } from '../../src/model/open-decoder.js';
import { ParamLayout } from '../../src/model/params.js';
import { makeBatch, rowSeeds } from '../../src/train/batches.js';
import { TrainingEngine } from '../../src/train/engine.js';
import { Rng } from '../../src/util/random.js';
import { initModel } from '../helpers/tiny-model.js';

// A tiny attention model: 6 channels over 4 regions, vocabulary of 11.
const config: AttentionConfig = {
  ...attentionArchitecture.defaults(11, 6),
  regions: 4,
  embedDim: 5,
  units: 7,
  attentionDim: 3,
  dropout: 0,
  attentionPenalty: 0,
};
const layout = new ParamLayout(attentionArchitecture.params(config));
const weights = new Float32Array(layout.total);
attentionArchitecture.init(config, layout, weights, new Rng(5));
const rng = new Rng(9);
const maps = [0, 1, 2].map(() => Float32Array.from({ length: 6 * 4 }, () => rng.next() * 2));
const items = [
  { image: 0, tokens: [4, 5, 6] },
  { image: 1, tokens: [7] },
  { image: 2, tokens: [8, 9, 10, 4, 5] },
];
const batch = makeBatch(items, (i) => maps[i], 6 * 4, rowSeeds(3, 0, 0, items.length));

/** A tiny merge model of the same vocabulary and channels, for ensembles with the attention model. */
function tinyMerge() {
  const { arch, ...rest } = initModel('merge', 11, 6, { embedDim: 4, units: 5, decoderUnits: 5 }, 6);
  return { architecture: arch, ...rest };
}

async function engineWith(overrides: Partial<AttentionConfig>, rows = 3) {
  const engine = new TrainingEngine(attentionArchitecture, { ...config, ...overrides }, layout, {
    rows,
    threads: 1,
  });
  engine.params.set(weights);
  return engine;
}

test('attention: the decoding graph and the training graph are one model (teacher-forced NLL = loss)', async () => {
  const decoder = await openWeightsDecoder({
    architecture: attentionArchitecture,
    config,
    layout,
    params: weights,
  });
  let nll = 0;
  for (const item of items) {
    let state = await decoder.start([maps[item.image]]);
    const inputs = [1, ...item.tokens];
    const targets = [...item.tokens, 2];
    for (let t = 0; t < inputs.length; t++) {
      const out = await decoder.step(state, Int32Array.from([inputs[t]]));
      nll -= out.logProbs[targets[t]];
      assert.equal(out.attention?.length, 4, 'one weight per region');
      const sum = out.attention!.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `attention sums to ${sum}`);
      state = out.state;
    }
  }
  decoder.dispose();
  const engine = await engineWith({}, 4); // padded to 4 rows: padding changes nothing
  const { lossSum } = await engine.loss(batch);
  await engine.close();
  assert.ok(Math.abs(nll - lossSum) < 1e-4 * Math.max(1, lossSum), `steps ${nll} vs graph ${lossSum}`);
});

test('attention: gradients (with dropout masks and the doubly stochastic penalty) match finite differences', async () => {
  const overrides = { dropout: 0.3, attentionPenalty: 0.7, labelSmoothing: 0.1 };
  const engine = await engineWith(overrides);
  const { grads } = await engine.gradients(batch);
  const pick = new Rng(4);
  const names = layout.specs.map((s) => s.name);
  for (const name of names) {
    const view = layout.view(engine.params, name);
    const g = layout.view(grads, name);
    // The largest-gradient weight of each tensor, plus one at random: float32 differences need a signal.
    let at = 0;
    for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[at])) at = i;
    for (const i of [at, Math.floor(pick.next() * g.length)]) {
      const original = view[i];
      const h = 1e-2;
      view[i] = original + h;
      const plus = (await engine.gradients(batch)).lossSum;
      view[i] = original - h;
      const minus = (await engine.gradients(batch)).lossSum;
      view[i] = original;
      const numeric = (plus - minus) / (2 * h);
      const tolerance = 2e-3 + 2e-2 * Math.abs(numeric);
      assert.ok(Math.abs(numeric - g[i]) < tolerance, `${name}[${i}]: analytic ${g[i]}, numeric ${numeric}`);
    }
  }
  await engine.close();
});

test('attention + merge ensemble: the merge member reads the mean of the map, the probabilities are averaged', async () => {
  const att = { architecture: attentionArchitecture, config, layout, params: weights };
  const mrg = tinyMerge();
  const pooled = Float32Array.from(
    { length: 6 },
    (_, c) => maps[0].subarray(c * 4, c * 4 + 4).reduce((a, b) => a + b, 0) / 4,
  );
  const firstStep = async (weights: Parameters<typeof openWeightsDecoder>[0], image: Float32Array) => {
    const decoder = await openWeightsDecoder(weights);
    try {
      const out = await decoder.step(await decoder.start([image]), Int32Array.of(1));
      return out;
    } finally {
      decoder.dispose();
    }
  };
  const a = await firstStep(att, maps[0]);
  const m = await firstStep(mrg, pooled);
  const both = await firstStep([att, mrg], maps[0]);
  for (let v = 0; v < 11; v++) {
    const expected = Math.log((Math.exp(a.logProbs[v]) + Math.exp(m.logProbs[v])) / 2);
    assert.ok(Math.abs(both.logProbs[v] - expected) < 1e-5, `id ${v}: ${both.logProbs[v]} vs ${expected}`);
  }
  assert.deepEqual(both.attention, a.attention, 'the attention member shows where the ensemble looked');
});

test('beams share their image’s regions: grouped rows, uneven rows and reordered images each step as if alone', async () => {
  const members = [{ architecture: attentionArchitecture, config, layout, params: weights }, tinyMerge()];
  const decoder = await openWeightsDecoder(members);
  /** The last step of one row decoded on its own: its image and the tokens fed so far. */
  const alone = async (image: number, history: number[]) => {
    let state = await decoder.start([maps[image]]);
    let out;
    for (const token of history) ({ state } = out = await decoder.step(state, Int32Array.of(token)));
    return out!;
  };
  // Rows as (image, history); each round selects rows of the last round and feeds each a token.
  let rows = [0, 1, 2].map((image) => ({ image, history: [1] }));
  let state = (await decoder.step(await decoder.start(maps), Int32Array.of(1, 1, 1))).state;
  const rounds = [
    { pick: [0, 0, 1, 1, 2, 2], tokens: [4, 5, 6, 7, 8, 9] }, // two beams an image
    { pick: [1, 0, 2, 3, 3, 5], tokens: [5, 4, 7, 6, 9, 8] }, // reordered within images, one of image 2 gone
    { pick: [4, 3, 1, 0], tokens: [10, 9, 4, 5] }, // images 1 and 0, two beams each
    { pick: [2, 3, 0, 1], tokens: [6, 7, 8, 9] }, // the same groups, swapped
  ];
  for (const { pick, tokens } of rounds) {
    rows = pick.map((r, i) => ({ image: rows[r].image, history: [...rows[r].history, tokens[i]] }));
    const out = await decoder.step(decoder.select(state, Int32Array.from(pick)), Int32Array.from(tokens));
    for (const [i, row] of rows.entries()) {
      const ref = await alone(row.image, row.history);
      for (let v = 0; v < 11; v++)
        assert.ok(Math.abs(out.logProbs[i * 11 + v] - ref.logProbs[v]) < 1e-5, `row ${i}, id ${v}`);
      for (let r = 0; r < 4; r++)
        assert.ok(Math.abs(out.attention![i * 4 + r] - ref.attention![r]) < 1e-6, `row ${i}, region ${r}`);
    }
    state = out.state;
  }
  decoder.dispose();
});
