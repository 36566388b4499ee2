import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/model/model-folder.js';
import { trainModel } from '../../src/train/trainer.js';
import { lockFolder } from '../../src/util/folder-lock.js';
import { TINY_MODEL, tinyData, tinyTrainOptions } from '../helpers/tiny-model.js';

const base = tinyTrainOptions;

async function withDirs<T>(n: number, f: (dirs: string[]) => Promise<T>): Promise<T> {
  const dirs = await Promise.all(
    Array.from({ length: n }, () => mkdtemp(join(tmpdir(), 'captioner-train-'))),
  );
  try {
    return await f(dirs);
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

test('a tiny corpus of 20 captions is learned to near-zero loss', async () => {
  await withDirs(1, async ([dir]) => {
    const data = tinyData(20, 1);
    const result = await trainModel(data, {
      ...base(dir),
      model: { ...TINY_MODEL, units: 32, decoderUnits: 32, embedDim: 16, imageDropout: 0, embedDropout: 0 },
      epochs: 60,
      batchSize: 10,
    });
    const last = result.history[result.history.length - 1];
    assert.ok(last.devLoss < 0.1, `dev loss ${last.devLoss}`);
    const metrics = (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(metrics.length, 60);
    assert.match(await readFile(join(dir, 'loss-curve.svg'), 'utf8'), /<svg/);
    const model = await loadModel(dir);
    assert.equal(model.config.model.arch, 'merge');
  });
});

test('resuming from the epoch checkpoint gives the same weights as not stopping', async () => {
  await withDirs(2, async ([straight, resumed]) => {
    const data = tinyData(12, 2);
    const a = await trainModel(data, { ...base(straight), epochs: 3 });
    await trainModel(data, { ...base(resumed), epochs: 1 });
    await assert.rejects(trainModel(data, { ...base(resumed), epochs: 3 }), /--resume/);
    // While another run holds the folder, a second one is refused.
    const release = await lockFolder(resumed, 'training run');
    await assert.rejects(trainModel(data, { ...base(resumed), epochs: 3, resume: true }), {
      code: 'FOLDER_LOCKED',
    });
    await release();
    const b = await trainModel(data, { ...base(resumed), epochs: 3, resume: true });
    assert.deepEqual(
      b.history.map((h) => h.trainLoss),
      a.history.map((h) => h.trainLoss),
    );
    assert.deepEqual(new Uint8Array(b.params.buffer), new Uint8Array(a.params.buffer));
  });
});

test('resuming a two-worker run (Adam state held by the workers) gives the same weights', async () => {
  await withDirs(2, async ([straight, resumed]) => {
    const data = tinyData(12, 2);
    const a = await trainModel(data, { ...base(straight), epochs: 3, threads: 2 });
    await trainModel(data, { ...base(resumed), epochs: 1, threads: 2 });
    const b = await trainModel(data, { ...base(resumed), epochs: 3, threads: 2, resume: true });
    assert.deepEqual(
      b.history.map((h) => h.trainLoss),
      a.history.map((h) => h.trainLoss),
    );
    assert.deepEqual(new Uint8Array(b.params.buffer), new Uint8Array(a.params.buffer));
  });
});

test('a checkpoint written by one thread resumes on two workers', async () => {
  await withDirs(2, async ([straight, resumed]) => {
    const data = tinyData(12, 2);
    const a = await trainModel(data, { ...base(straight), epochs: 2 });
    await trainModel(data, { ...base(resumed), epochs: 1 });
    const b = await trainModel(data, { ...base(resumed), epochs: 2, threads: 2, resume: true });
    let maxDiff = 0;
    for (let i = 0; i < a.params.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(a.params[i] - b.params[i]));
    assert.ok(maxDiff < 1e-4, `weights differ by ${maxDiff}`);
  });
});

test('two gradient workers and one thread agree on the same seed', async () => {
  await withDirs(2, async ([one, two]) => {
    const data = tinyData(12, 2);
    const a = await trainModel(data, { ...base(one), epochs: 2 });
    const b = await trainModel(data, { ...base(two), epochs: 2, threads: 2 });
    a.history.forEach((h, i) => {
      assert.ok(
        Math.abs(h.trainLoss - b.history[i].trainLoss) < 1e-4,
        `${h.trainLoss} vs ${b.history[i].trainLoss}`,
      );
      assert.ok(Math.abs(h.devLoss - b.history[i].devLoss) < 1e-4);
    });
    let maxDiff = 0;
    for (let i = 0; i < a.params.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(a.params[i] - b.params[i]));
    assert.ok(maxDiff < 1e-3, `weights differ by ${maxDiff}`);
  });
});
