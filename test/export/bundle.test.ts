import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ortWeb from 'onnxruntime-web';
import { BundleCaptioner } from '../../src/browser/bundle-captioner.js';
import type { BundleConfig } from '../../src/export/bundle-format.js';
import { buildBundle } from '../../src/export/bundle.js';
import { hostSaturatesU8S8 } from '../../src/export/u8s8-host.js';
import type { CaptionResult, Captioner } from '../../src/pipeline/captioner-types.js';
import { defaultWebRoot } from '../../src/serve/web-page.js';
import { decodeImage } from '../../src/vision/decode-image.js';
import { loadEncoder, type ImageEncoder } from '../../src/vision/encoder.js';
import { runCli } from '../helpers/cli.js';
import { DEFAULT_MODEL, flickrPhoto, loadRealCaptioner } from '../helpers/real-captioner.js';

const PHOTOS = 8;

describe('captioner export: the bundle', () => {
  let dir = '';
  let config: BundleConfig;
  let captioner: Captioner | undefined;
  let skip: string | undefined;

  before(async () => {
    ({ captioner, skip } = await loadRealCaptioner());
    if (!captioner) return;
    if (!flickrPhoto(0)) skip = 'Flickr8k photos not found (CAPTIONER_SHARED)';
    dir = await mkdtemp(join(tmpdir(), 'captioner-bundle-'));
    const run = await runCli(['export', '--out', dir]);
    assert.equal(run.code, 0, run.stderr);
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as BundleConfig;
  });
  after(async () => captioner?.dispose());

  test('writes the encoder and decoder graphs, config.json and a README; int8 weights stay int8', async (t) => {
    if (!captioner) return t.skip(skip);
    for (const file of [
      'encoder.onnx',
      'decoder-start.onnx',
      'decoder-step.onnx',
      'config.json',
      'README.md',
    ])
      assert.ok(existsSync(join(dir, file)), file);
    assert.equal(config.format, 'captioner-bundle');
    assert.deepEqual(config.preprocessing.inputSize, [224, 224]);
    assert.equal(config.preprocessing.resize, 'squash');
    assert.deepEqual(config.preprocessing.mean, [0.485, 0.456, 0.406]);
    assert.equal(config.vocabulary.tokens.length, 2533);
    assert.equal(config.decoding.beam, 3);
    const bundled = JSON.parse(await readFile(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as {
      members?: string[];
    };
    // An ensemble's members, or the one model the folder is.
    const members = bundled.members ?? ['.'];
    assert.equal(config.model.members, members.length);
    assert.equal(config.decoder.weights, 'int8');
    // The step graph holds the members' weights as the model folder stores them (int8, a quarter of
    // float32's bytes), not dequantized copies.
    let int8Bytes = 0;
    for (const m of members) int8Bytes += (await stat(join(DEFAULT_MODEL, m, 'model.safetensors'))).size;
    const step = config.files.find((f) => f.name === 'decoder-step.onnx')!;
    assert.ok(step.bytes < 1.1 * int8Bytes, `step graph ${step.bytes} bytes, int8 weights ${int8Bytes}`);
    const readme = await readFile(join(dir, 'README.md'), 'utf8');
    for (const name of ['image', 'features', 'tokens', 'log_probs', 'h.next'])
      assert.ok(readme.includes(name), name);
  });

  test('the bundle on onnxruntime-node writes the captioner’s captions (same alternatives and scores)', async (t) => {
    if (skip || !captioner) return t.skip(skip);
    const bundle = await BundleCaptioner.create(config, (file) => readFile(join(dir, file)));
    try {
      for (let i = 0; i < PHOTOS; i++) {
        const path = flickrPhoto(i)!;
        // The server's preprocessing (sharp): the bundle is given the same pixels.
        const pixels = await decodeImage(path, { width: 224, height: 224 });
        const fromBundle = await bundle.captionPixels(pixels.data, 3);
        const fromCaptioner: CaptionResult = await captioner.caption(path);
        // The same captions; scores close. With one output layer in integers (the merge ensemble) they
        // agree to the 4 decimals they are rounded to. With every product in integers (the attention
        // model) the server folds the int8 embedding into the LSTM's input product at load (a float
        // table) where the bundle keeps the integer product (see the README): scores differed by up to
        // 2.1e-3 on these photos.
        const texts = (a: { text: string }[]) => a.map((x) => x.text);
        assert.deepEqual(texts(fromBundle.alternatives), texts(fromCaptioner.alternatives), path);
        fromBundle.alternatives.forEach((a, k) =>
          assert.ok(Math.abs(a.score - fromCaptioner.alternatives[k].score) <= 5e-3, `${path}: ${a.score}`),
        );
      }
    } finally {
      await bundle.dispose();
    }
  });

  test('--with-page writes a static site: the page, the model in model/, onnxruntime-web’s files', async (t) => {
    if (!captioner) return t.skip(skip);
    if (!existsSync(join(defaultWebRoot(), 'index.html')))
      return t.skip('the page is not built (npm run build)');
    const site = await mkdtemp(join(tmpdir(), 'captioner-site-'));
    const run = await runCli(['export', '--with-page', '--out', site]);
    assert.equal(run.code, 0, run.stderr);
    for (const file of ['index.html', '_headers', 'HOSTING.md', 'model/config.json', 'model/encoder.onnx'])
      assert.ok(existsSync(join(site, file)), file);
    assert.ok(existsSync(join(site, 'ort', ortWeb.env.versions.web!, 'ort-wasm-simd-threaded.wasm')));
    assert.match(
      await readFile(join(site, '_headers'), 'utf8'),
      /Cross-Origin-Embedder-Policy: require-corp/,
    );
  });
});

describe('the bundle’s int8 encoder computes the server’s features in WebAssembly', () => {
  let encoder: ImageEncoder | undefined;
  let skip: string | undefined;
  before(async () => {
    const loaded = await loadRealCaptioner(); // points CAPTIONER_ASSET_PATH at ../shared/models
    await loaded.captioner?.dispose();
    skip = loaded.skip ?? (flickrPhoto(0) ? undefined : 'Flickr8k photos not found');
    if (!skip) encoder = await loadEncoder('mobilenetv2-int8', { threads: 1 });
  });
  after(async () => encoder?.dispose());

  test('onnxruntime-web (wasm) gives the onnxruntime-node features bit for bit (AVX2 saturation emulated where this CPU has it)', async (t) => {
    if (skip || !encoder) return t.skip(skip);
    const plain = await buildBundle({ u8s8: 'none' });
    const exact = await buildBundle({ u8s8: 'all' });
    const calibrated = await buildBundle({ u8s8: 'calibrated' }); // the pairs that saturate on real photos
    const byDefault = await buildBundle(); // this machine's arithmetic
    const saturates = hostSaturatesU8S8();
    t.diagnostic(
      `this CPU's onnxruntime ${saturates ? 'saturates u8s8 pairs (AVX2)' : 'computes int8 exactly (VNNI or ARM)'}`,
    );
    assert.equal(byDefault.config.encoder.u8s8.emulation, saturates ? 'calibrated' : 'none');
    ortWeb.env.wasm.numThreads = 1;
    // The browser captioner opens graphs at the 'basic' level; onnxruntime elsewhere defaults to 'all'.
    const open = (bytes: Uint8Array, level: 'basic' | 'all' = 'all') =>
      ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: level });
    const [webPlain, webExact] = await Promise.all([
      open(plain.files.get('encoder.onnx')!),
      open(exact.files.get('encoder.onnx')!),
    ]);
    const webCalibrated = await open(calibrated.files.get('encoder.onnx')!, 'basic');
    try {
      let emulatedDiffers = 0;
      for (let i = 0; i < 3; i++) {
        const image = await encoder.decode(flickrPhoto(i)!);
        const batch = new Float32Array(3 * 224 * 224);
        encoder.fill(image, batch, 0);
        const server: Float32Array = (await encoder.run(batch, 1)).pooled;
        const input = { image: new ortWeb.Tensor('float32', batch, [1, 3, 224, 224]) };
        const web = (await webExact.run(input)).features.data as Float32Array;
        const webDefault = (await webCalibrated.run(input)).features.data as Float32Array;
        // Where the emulation is on, every emulated pair and the calibrated ones agree with each other.
        assert.deepEqual([...webDefault], [...web], `photo ${i}, calibrated pairs against all pairs`);
        const unemulated = (await webPlain.run(input)).features.data as Float32Array;
        if (saturates) assert.deepEqual([...web], [...server], `photo ${i}: AVX2 emulated`);
        else assert.deepEqual([...unemulated], [...server], `photo ${i}: exact int8`);
        if (unemulated.some((v, j) => v !== web[j])) emulatedDiffers++;
      }
      // On a real photo some pair saturates: the emulation changes the features.
      assert.ok(emulatedDiffers > 0, 'the AVX2 emulation changed nothing');
    } finally {
      await Promise.all([webPlain.release(), webExact.release(), webCalibrated.release()]);
    }
  });
});

describe('an attention model’s bundle', () => {
  test('the encoder exposes the spatial map the start graph reads; the same captions as the captioner', async (t) => {
    const loaded = await loadRealCaptioner(); // points CAPTIONER_ASSET_PATH at ../shared/models
    await loaded.captioner?.dispose();
    if (loaded.skip || !flickrPhoto(0)) return t.skip(loaded.skip ?? 'Flickr8k photos not found');
    const { tinyAttentionModelDir } = await import('../helpers/tiny-model.js');
    const { loadCaptioner } = await import('../../src/pipeline/load-captioner.js');
    const model = await tinyAttentionModelDir();
    const built = await buildBundle({ model });
    assert.equal(built.config.decoder.reads, 'spatial');
    assert.deepEqual(
      built.config.encoder.outputs.map((o) => o.name),
      ['features', 'spatial'],
    );
    const bundle = await BundleCaptioner.create(built.config, async (file) => built.files.get(file)!);
    const captioner = await loadCaptioner({ model });
    try {
      for (let i = 0; i < 2; i++) {
        const path = flickrPhoto(i)!;
        const pixels = await decodeImage(path, { width: 224, height: 224 });
        const fromBundle = await bundle.captionPixels(pixels.data, 3);
        assert.deepEqual(fromBundle.alternatives, (await captioner.caption(path)).alternatives, path);
      }
    } finally {
      await bundle.dispose();
      await captioner.dispose();
    }
  });
});
