/**
 * The onnxruntime engine against the fixture of the engine it replaced: test/fixtures/merge-parity.json
 * holds a tiny merge model's weights, a batch of five captions and, for two settings (no dropout; dropout
 * 0.5 on image and embedding with label smoothing 0.1), the summed loss and its gradient as the tfjs
 * engine computed them (commit 1e471d3, removed after; the fixture's `source` says how). The engine is
 * rewritten, the numbers it must reproduce are not.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { TrainBatch } from '../../src/model/architecture.js';
import { mergeArchitecture, type MergeConfig } from '../../src/model/arch/merge.js';
import { ParamLayout } from '../../src/model/params.js';
import { makeBatch } from '../../src/train/batches.js';
import { TrainingEngine } from '../../src/train/engine.js';

interface ParityCase {
  config: MergeConfig;
  lossSum: number;
  evalLossSum?: number;
  gradient: { name: string; shape: number[]; values: number[] }[];
}

interface ParityFixture {
  source: string;
  weights: number[];
  batch: {
    items: { image: number; tokens: number[] }[];
    featureDim: number;
    features: number[];
    rowSeeds: number[];
    inputs: number[];
  };
  compare: { lossAbs: number; gradientRel: number };
  cases: { a: ParityCase; b: ParityCase };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/merge-parity.json', import.meta.url), 'utf8'),
) as ParityFixture;

function batchOf(f: ParityFixture): TrainBatch {
  const { items, featureDim, features, rowSeeds } = f.batch;
  const table = (i: number) => Float32Array.from(features.slice(i * featureDim, (i + 1) * featureDim));
  return makeBatch(items, table, featureDim, Uint32Array.from(rowSeeds));
}

for (const key of ['a', 'b'] as const) {
  test(`the onnxruntime engine reproduces the tfjs engine's loss and gradient (case ${key})`, async () => {
    const c = fixture.cases[key];
    const layout = new ParamLayout(mergeArchitecture.params(c.config));
    const batch = batchOf(fixture);
    assert.deepEqual(Array.from(batch.inputs), fixture.batch.inputs, 'makeBatch rebuilds the stored batch');
    for (const [rows, threads] of [
      [batch.rows, 1],
      [8, 1],
      [batch.rows, 2],
    ]) {
      // As built (5 rows), padded to a batch of 8 (padding rows must change nothing), and on two
      // onnxruntime threads.
      const engine = new TrainingEngine(mergeArchitecture, c.config, layout, { rows, threads });
      engine.params.set(fixture.weights);
      const { lossSum, grads } = await engine.gradients(batch);
      assert.ok(
        Math.abs(lossSum - c.lossSum) < fixture.compare.lossAbs,
        `rows ${rows}, threads ${threads}: loss ${lossSum} vs ${c.lossSum}`,
      );
      for (const g of c.gradient) {
        const mine = layout.view(grads, g.name);
        let diff = 0;
        let norm = 0;
        g.values.forEach((v, i) => {
          diff += (mine[i] - v) ** 2;
          norm += v * v;
        });
        const rel = Math.sqrt(diff / Math.max(norm, 1e-30));
        assert.ok(
          rel < fixture.compare.gradientRel,
          `rows ${rows}, threads ${threads}: ${g.name} relative error ${rel}`,
        );
      }
      if (c.evalLossSum !== undefined) {
        const dev = await engine.loss(batch);
        assert.ok(Math.abs(dev.lossSum - c.evalLossSum) < fixture.compare.lossAbs, 'loss without dropout');
      }
      await engine.close();
    }
  });
}
