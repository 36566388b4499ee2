import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { CaptionerError } from '../../src/util/errors.js';
import { loadEncoder, type ImageEncoder } from '../../src/vision/encoder.js';
import { loadImageNetLabels, topK } from '../../src/vision/labels.js';
import { exposeFeatureOutputs } from '../../src/vision/onnx-graph.js';
import {
  DOG_PHOTOS,
  flickrImages,
  SKIP_NO_MODEL,
  sharedEncoderPath,
  tinyClassifier,
} from '../helpers/vision.js';

const modelPath = await sharedEncoderPath();

describe('graph edit (structure, any classifier)', () => {
  it('finds the pooled vector and the map before global pooling, whatever the names', async () => {
    const edited = exposeFeatureOutputs(tinyClassifier('gap'));
    assert.equal(edited.found.pooling, 'GlobalAveragePool');
    assert.equal(edited.found.pooledTensor, 't4');
    assert.equal(edited.found.spatialTensor, 't2');
    const session = await ort.InferenceSession.create(edited.bytes);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 3 * 256 }, (_, i) => Math.sin(i)),
      [2, 3, 16, 16],
    );
    const out = await session.run({ x });
    assert.deepEqual(out[edited.pooledOutput].dims, [2, 4]);
    assert.deepEqual(out[edited.spatialOutput!].dims, [2, 4, 16, 16]);
    const pooled = out[edited.pooledOutput].data as Float32Array;
    const spatial = out[edited.spatialOutput!].data as Float32Array;
    for (let c = 0; c < 4; c++) {
      const mean = spatial.subarray(c * 256, (c + 1) * 256).reduce((a, b) => a + b, 0) / 256;
      assert.ok(Math.abs(mean - pooled[c]) < 1e-5);
    }
    await session.release();
  });

  it('takes the last flattened map of a VGG-style network (no global pooling)', async () => {
    const edited = exposeFeatureOutputs(tinyClassifier('vgg'));
    assert.equal(edited.found.pooledTensor, 't6'); // what feeds the last Gemm: fc7 after ReLU
    assert.equal(edited.found.spatialTensor, 't3'); // the max-pooled map before Flatten
    const session = await ort.InferenceSession.create(edited.bytes);
    const out = await session.run({
      x: new ort.Tensor('float32', new Float32Array(3 * 256).fill(0.5), [1, 3, 16, 16]),
    });
    assert.deepEqual(out[edited.pooledOutput].dims, [1, 6]);
    assert.deepEqual(out[edited.spatialOutput!].dims, [1, 4, 8, 8]);
    await session.release();
  });

  it('refuses models that are not classifiers, or not ONNX', () => {
    assert.throws(() => exposeFeatureOutputs(tinyClassifier('none')), { code: 'ENCODER_UNSUPPORTED' });
    assert.throws(
      () => exposeFeatureOutputs(Buffer.from('definitely not protobuf \xff\xff\xff')),
      (e: unknown) => {
        return e instanceof CaptionerError && ['ENCODER_INVALID', 'ENCODER_UNSUPPORTED'].includes(e.code);
      },
    );
  });

  it('loads a custom classifier from a path, named after the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'captioner-enc-'));
    try {
      const path = join(dir, 'tiny-gap.onnx');
      await writeFile(path, tinyClassifier('gap'));
      const encoder = await loadEncoder(path);
      assert.equal(encoder.identity.name, 'tiny-gap');
      assert.deepEqual(encoder.identity.inputSize, [16, 16]);
      assert.equal(encoder.identity.pooledDim, 4);
      assert.deepEqual(encoder.spatialDims, [4, 16, 16]);
      await encoder.dispose();
      await assert.rejects(loadEncoder('no-such-encoder'), { code: 'ENCODER_UNKNOWN' });
      await assert.rejects(loadEncoder(join(dir, 'missing.onnx')), { code: 'ENCODER_NOT_FOUND' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('MobileNetV2 int8 encoder', { skip: modelPath ? false : SKIP_NO_MODEL }, () => {
  let encoder: ImageEncoder;
  before(async () => {
    encoder = await loadEncoder(undefined, { threads: 2 });
  });
  after(async () => {
    await encoder?.dispose();
  });

  it('exposes a 1,280-d pooled vector and a 1,280×7×7 map', async () => {
    assert.equal(encoder.identity.name, 'mobilenetv2-int8');
    assert.equal(encoder.identity.pooledDim, 1280);
    assert.deepEqual(encoder.spatialDims, [1280, 7, 7]);
    assert.equal(encoder.classes, 1000);
    const edited = exposeFeatureOutputs(await readFile(modelPath!));
    assert.equal(edited.found.pooling, 'QLinearGlobalAveragePool');
  });

  it('pooled output equals the mean of the spatial map, within quantization error', async () => {
    const { pooled, spatial } = await encoder.encode([join(flickrImages(), DOG_PHOTOS[0])], {
      spatial: true,
    });
    const map = spatial![0];
    let worst = 0;
    let largest = 0;
    for (let c = 0; c < 1280; c++) {
      const mean = map.subarray(c * 49, (c + 1) * 49).reduce((a, b) => a + b, 0) / 49;
      worst = Math.max(worst, Math.abs(mean - pooled[0][c]));
      largest = Math.max(largest, pooled[0][c]);
    }
    assert.ok(largest > 1, 'features are not all zero');
    // One quantization step of the pooled tensor is about largest / 255.
    assert.ok(worst <= (2 * largest) / 255, `max |pooled - mean(map)| = ${worst}`);
  });

  it('names a dog class for dog photos', async () => {
    const labels = await loadImageNetLabels({ download: false });
    const { logits } = await encoder.encode(
      DOG_PHOTOS.map((p) => join(flickrImages(), p)),
      { logits: true },
    );
    for (const [i, photo] of DOG_PHOTOS.entries()) {
      const [best] = topK(logits![i], labels, 1);
      // ImageNet classes 151–268 are dog breeds.
      assert.ok(best.index >= 151 && best.index <= 268, `${photo}: top-1 is ${best.label}`);
    }
  });

  it('gives identical features for the same image (repeat, batch, path or bytes)', async () => {
    const path = join(flickrImages(), DOG_PHOTOS[1]);
    const bytes = await readFile(path);
    const a = await encoder.encode([path]);
    const b = await encoder.encode([join(flickrImages(), DOG_PHOTOS[2]), bytes, path]);
    assert.deepEqual(a.pooled[0], b.pooled[1]);
    assert.deepEqual(a.pooled[0], b.pooled[2]);
    assert.notDeepEqual(a.pooled[0], b.pooled[0]);
  });

  it('rejects a broken image with an IMAGE_* error', async () => {
    await assert.rejects(encoder.encode([Buffer.from('not an image at all, just text')]), {
      code: 'IMAGE_UNSUPPORTED',
    });
  });
});
