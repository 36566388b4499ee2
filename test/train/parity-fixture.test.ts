/**
 * test/fixtures/merge-parity.json: produced by the tfjs engine at commit 1e471d3; the tfjs engine is
 * removed after this; the new engine's tests compare against these numbers.
 *
 * For now this re-runs the old (tfjs) engine on the fixture and checks that it reproduces the stored
 * losses and gradients, i.e. that the fixture is self-consistent and complete (weights, batch, configs
 * are all that is needed). Regenerate with: npx tsx test/fixtures/make-merge-parity.ts
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { TrainBatch } from '../../src/model/architecture.js';
import { mergeArchitecture, type MergeConfig } from '../../src/model/merge.js';
import { ParamLayout } from '../../src/model/params.js';
import { initTf, type BackendName } from '../../src/model/tf-backend.js';
import { makeBatch } from '../../src/train/batches.js';
import { computeGradients, computeLoss } from '../../src/train/gradients.js';
import { Rng } from '../../src/util/random.js';

interface NamedValues {
  name: string;
  shape: number[];
  values: number[];
}

interface ParityCase {
  training: boolean;
  config: MergeConfig;
  lossSum: number;
  tokens: number;
  evalLossSum?: number;
  gradient: NamedValues[];
}

interface ParityFixture {
  source: string;
  commit: string;
  backend: BackendName;
  params: { name: string; shape: number[]; offset: number; size: number }[];
  weightCount: number;
  /** `mergeArchitecture.init(cases.a.config, layout, flat, new Rng(<seed>))` */
  weightInit: string;
  weights: number[];
  batch: {
    items: { image: number; tokens: number[] }[];
    featureDim: number;
    features: number[];
    rowSeeds: number[];
    rows: number;
    steps: number;
    inputs: number[];
    positions: number[];
    targets: number[];
  };
  cases: { a: ParityCase; b: ParityCase };
  finiteDifference: {
    eps: number;
    checks: { name: string; index: number; flatIndex: number; analytic: number; numeric: number }[];
  };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/merge-parity.json', import.meta.url), 'utf8'),
) as ParityFixture;

const LOSS_TOLERANCE = 1e-6;
/** The same engine on the same backend: the stored float32 values come back (all but) bit for bit. */
const closeGradient = (actual: number, expected: number) =>
  Math.abs(actual - expected) <= 1e-9 + 1e-6 * Math.abs(expected);

function setup() {
  const layout = new ParamLayout(
    mergeArchitecture.params(mergeArchitecture.validate(fixture.cases.a.config)),
  );
  const weights = Float32Array.from(fixture.weights);
  const { featureDim, features } = fixture.batch;
  const table = Float32Array.from(features);
  const batch = makeBatch(
    fixture.batch.items,
    (image) => table.subarray(image * featureDim, (image + 1) * featureDim),
    featureDim,
    Uint32Array.from(fixture.batch.rowSeeds),
  );
  return { layout, weights, batch };
}

function assertGradient(layout: ParamLayout, grads: Float32Array, expected: NamedValues[]) {
  assert.deepEqual(
    expected.map((p) => [p.name, p.shape]),
    layout.specs.map((s) => [s.name, s.shape]),
  );
  for (const p of expected) {
    const actual = layout.view(grads, p.name);
    assert.equal(actual.length, p.values.length, p.name);
    p.values.forEach((v, k) =>
      assert.ok(closeGradient(actual[k], v), `${p.name}[${k}]: computed ${actual[k]}, stored ${v}`),
    );
  }
}

test('the parity fixture says where it comes from', () => {
  assert.match(fixture.source, /^produced by the tfjs engine at commit [0-9a-f]{7,}; /);
  assert.ok(fixture.source.includes(fixture.commit));
});

test('the fixture holds the merge layout, the init weights and the batch makeBatch builds', () => {
  const { layout, weights, batch } = setup();
  assert.deepEqual(
    fixture.params,
    layout.specs.map((s, i) => ({
      name: s.name,
      shape: s.shape,
      offset: layout.offsets[i],
      size: layout.sizes[i],
    })),
  );
  assert.equal(fixture.weightCount, layout.total);
  assert.equal(weights.length, layout.total);
  // Stored exactly: the decimals read back as the float32 weights of the recorded init.
  const seed = Number(/new Rng\((\d+)\)/.exec(fixture.weightInit)?.[1]);
  const init = new Float32Array(layout.total);
  mergeArchitecture.init(fixture.cases.a.config, layout, init, new Rng(seed));
  assert.deepEqual(weights, init);

  const expected: Partial<TrainBatch> = {
    rows: fixture.batch.rows,
    steps: fixture.batch.steps,
    inputs: Int32Array.from(fixture.batch.inputs),
    positions: Int32Array.from(fixture.batch.positions),
    targets: Int32Array.from(fixture.batch.targets),
  };
  assert.deepEqual(
    {
      rows: batch.rows,
      steps: batch.steps,
      inputs: batch.inputs,
      positions: batch.positions,
      targets: batch.targets,
    },
    expected,
  );
  for (const c of [fixture.cases.a, fixture.cases.b]) assert.equal(c.tokens, batch.targets.length);
});

test('the tfjs engine reproduces case a (training=false, no label smoothing)', async () => {
  await initTf(fixture.backend);
  const { layout, weights, batch } = setup();
  const c = fixture.cases.a;
  const config = mergeArchitecture.validate(c.config);
  assert.equal(c.training, false);
  assert.equal(config.imageDropout + config.embedDropout + (config.labelSmoothing ?? 0), 0);

  const loss = computeLoss(mergeArchitecture, config, layout, weights, batch);
  assert.ok(
    Math.abs(loss.lossSum - c.lossSum) <= LOSS_TOLERANCE,
    `lossSum ${loss.lossSum}, stored ${c.lossSum}`,
  );
  assert.equal(loss.tokens, c.tokens);

  // computeGradients runs the training graph; with no dropout and no smoothing it is the same function.
  const grads = new Float32Array(layout.total);
  const withGrads = computeGradients(mergeArchitecture, config, layout, weights, batch, grads);
  assert.ok(Math.abs(withGrads.lossSum - c.lossSum) <= LOSS_TOLERANCE);
  assertGradient(layout, grads, c.gradient);
});

test('the tfjs engine reproduces case b (training=true: dropout masks from the row seeds, label smoothing)', async () => {
  await initTf(fixture.backend);
  const { layout, weights, batch } = setup();
  const c = fixture.cases.b;
  const config = mergeArchitecture.validate(c.config);
  assert.equal(c.training, true);
  assert.deepEqual([config.imageDropout, config.embedDropout, config.labelSmoothing], [0.5, 0.5, 0.1]);

  const grads = new Float32Array(layout.total);
  const result = computeGradients(mergeArchitecture, config, layout, weights, batch, grads);
  assert.ok(
    Math.abs(result.lossSum - c.lossSum) <= LOSS_TOLERANCE,
    `lossSum ${result.lossSum}, stored ${c.lossSum}`,
  );
  assert.equal(result.tokens, c.tokens);
  assertGradient(layout, grads, c.gradient);

  // Dev loss ignores dropout and label smoothing: case a's loss.
  const dev = computeLoss(mergeArchitecture, config, layout, weights, batch).lossSum;
  assert.ok(Math.abs(dev - (c.evalLossSum ?? NaN)) <= LOSS_TOLERANCE);
  assert.ok(Math.abs(dev - fixture.cases.a.lossSum) <= LOSS_TOLERANCE);
});

test("the stored finite differences are the tfjs engine's and sit next to case a's gradients", async () => {
  await initTf(fixture.backend);
  const { layout, weights, batch } = setup();
  const config = mergeArchitecture.validate(fixture.cases.a.config);
  const flatGradient = fixture.cases.a.gradient.flatMap((p) => p.values);
  const { eps, checks } = fixture.finiteDifference;
  assert.equal(checks.length, 5);
  for (const check of checks) {
    const i = check.flatIndex;
    assert.equal(layout.offsets[layout.specs.findIndex((s) => s.name === check.name)] + check.index, i);
    assert.equal(check.analytic, flatGradient[i]);
    const probe = weights.slice();
    probe[i] = weights[i] + eps;
    const upAt = probe[i];
    const up = computeLoss(mergeArchitecture, config, layout, probe, batch).lossSum;
    probe[i] = weights[i] - eps;
    const downAt = probe[i];
    const down = computeLoss(mergeArchitecture, config, layout, probe, batch).lossSum;
    const numeric = (up - down) / (upAt - downAt);
    assert.ok(
      Math.abs(numeric - check.numeric) <= 1e-7 * Math.abs(check.numeric),
      `${check.name}[${check.index}]`,
    );
    // And the central difference agrees with the gradient, to float32 finite-difference precision.
    assert.ok(Math.abs(numeric - check.analytic) <= 2e-3 + 1e-2 * Math.abs(check.analytic));
  }
});
