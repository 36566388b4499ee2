import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { BundleCaptioner } from '../../src/browser/bundle-captioner.js';
import { graphFiles } from '../../src/browser/model-files.js';
import { loadModelFiles } from '../../src/browser/model-loading.js';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { buildServer } from '../../src/serve/server.js';
import { decodeImage } from '../../src/vision/decode-image.js';
import { flickrPhoto, loadRealCaptioner } from '../helpers/real-captioner.js';

// The page reads the model in a worker (tested in Chromium: on-device.test.ts); where there is no
// Worker (here, Node), loadModelFiles reads it on the calling thread and leaves the folding to the captioner.
let captioner: Captioner | undefined;
let skip: string | undefined;
let app: FastifyInstance | undefined;
let base = '';
before(async () => {
  ({ captioner, skip } = await loadRealCaptioner());
  if (!captioner) return;
  app = buildServer({ captioner, webRoot: null });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/model/`;
});
after(async () => {
  await app?.close();
  await captioner?.dispose();
});

test('without a Worker, loadModelFiles reads the bundle here, unfolded, and it captions as the server does', async (t) => {
  if (skip || !captioner) return t.skip(skip);
  assert.equal((globalThis as { Worker?: unknown }).Worker, undefined, 'Node has no global Worker');
  const progress: number[] = [];
  const loaded = await loadModelFiles(base, { cacheName: false, onProgress: (p) => progress.push(p.loaded) });
  assert.equal(loaded.folded, undefined);
  assert.equal(loaded.fromCache, false);
  assert.ok(
    progress.length > 0 &&
      progress.at(-1) ===
        loaded.config.files.filter((f) => loaded.files.has(f.name)).reduce((a, f) => a + f.bytes, 0),
  );
  assert.deepEqual(
    graphFiles(loaded.config).sort(),
    ['decoder-start.onnx', 'decoder-step.onnx', 'encoder.onnx']
      .filter((f) => loaded.config.files.some((g) => g.name === f))
      .sort(),
  );
  for (const name of graphFiles(loaded.config)) assert.ok(loaded.files.get(name)!.length > 0, name);
  const bundle = await BundleCaptioner.create(loaded.config, async (name) => loaded.files.get(name)!, {
    folded: loaded.folded,
  });
  try {
    const path = flickrPhoto(0);
    if (!path) return t.skip('Flickr8k photos not found');
    const pixels = await decodeImage(path, { width: 224, height: 224 });
    const fromBundle = await bundle.captionPixels(pixels.data, 3);
    assert.equal(fromBundle.caption, (await captioner.caption(path)).caption);
  } finally {
    await bundle.dispose();
  }
});

test('a missing bundle: MODEL_NOT_FOUND, whichever thread reads it', async (t) => {
  if (skip || !captioner) return t.skip(skip);
  await assert.rejects(loadModelFiles(base.replace('/model/', '/nothing-here/'), { cacheName: false }), {
    code: 'MODEL_NOT_FOUND',
  });
});
