import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
  appendFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LOCK_FILE } from '../../src/util/folder-lock.js';
import { computeFeatures } from '../../src/vision/compute-features.js';
import { loadEncoder, type ImageEncoder } from '../../src/vision/encoder.js';
import type { EncoderIdentity } from '../../src/vision/encoder-identity.js';
import {
  FeatureStoreWriter,
  featureStoreDir,
  openSpatialFeatures,
  readPooledFeatures,
} from '../../src/vision/feature-store.js';
import { flickrImages, SKIP_NO_MODEL, sharedEncoderPath } from '../helpers/vision.js';

const toy: EncoderIdentity = {
  name: 'toy',
  sha256: 'a'.repeat(64),
  inputSize: [224, 224],
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  resize: 'squash',
  pooledDim: 4,
};
const vec = (i: number) => Float32Array.from([i, i + 0.5, -i, 1 / (i + 1)]);

describe('feature store (format)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'captioner-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips vectors, and reports a missing or unfinished store', async () => {
    const work = join(dir, 'rt');
    await assert.rejects(readPooledFeatures(work, 'toy'), { code: 'FEATURES_MISSING' });
    const store = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy });
    await store.append([0, 1, 2].map((i) => ({ image: `img${i}.jpg`, pooled: vec(i) })));
    await assert.rejects(readPooledFeatures(work, 'toy'), { code: 'FEATURES_INCOMPLETE' });
    await store.finish(true, [{ image: 'bad.jpg', code: 'IMAGE_CORRUPT', reason: 'bad.jpg: truncated' }]);
    const features = await readPooledFeatures(work, 'toy');
    assert.equal(features.dim, 4);
    assert.deepEqual(features.encoder, toy);
    assert.deepEqual(features.images, ['img0.jpg', 'img1.jpg', 'img2.jpg']);
    for (const i of [0, 1, 2]) assert.deepEqual(features.get(`img${i}.jpg`), vec(i));
    assert.equal(features.get('bad.jpg'), undefined);
    const manifest = JSON.parse(await readFile(join(featureStoreDir(work, 'toy'), 'manifest.json'), 'utf8'));
    assert.equal(manifest.skipped[0].image, 'bad.jpg');
  });

  it('resumes after a crash: keeps whole records, cuts a torn tail', async () => {
    const work = join(dir, 'crash');
    const store = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy });
    await store.append([0, 1, 2].map((i) => ({ image: `img${i}.jpg`, pooled: vec(i) })));
    await store.close(); // "crash": no finish
    const file = join(featureStoreDir(work, 'toy'), 'pooled.f32');
    const size = (await stat(file)).size;
    await truncate(file, size - 7); // the last record is torn
    await appendFile(file, Buffer.alloc(100)); // and zeros follow, as after a power cut

    const resumed = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy });
    assert.equal(resumed.rebuilt, undefined);
    assert.deepEqual(
      ['img0.jpg', 'img1.jpg', 'img2.jpg', 'img3.jpg'].filter((i) => resumed.needs(i)),
      ['img2.jpg', 'img3.jpg'],
    );
    await resumed.append([2, 3].map((i) => ({ image: `img${i}.jpg`, pooled: vec(i) })));
    await resumed.finish(true, []);
    const features = await readPooledFeatures(work, 'toy');
    assert.deepEqual(features.images, ['img0.jpg', 'img1.jpg', 'img2.jpg', 'img3.jpg']);
    for (const i of [0, 1, 2, 3]) assert.deepEqual(features.get(`img${i}.jpg`), vec(i));
  });

  it('detects a stale store (other encoder version, preprocessing or image folder) and rebuilds it', async () => {
    const work = join(dir, 'stale');
    const first = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy });
    await first.append([{ image: 'img0.jpg', pooled: vec(0) }]);
    await first.finish(true, []);

    const changes: Partial<EncoderIdentity>[] = [{ sha256: 'b'.repeat(64) }, { mean: [0.5, 0.5, 0.5] }];
    for (const change of changes) {
      const again = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: { ...toy, ...change } });
      assert.ok(again.rebuilt, `rebuilt after ${JSON.stringify(change)}`);
      assert.ok(again.needs('img0.jpg'));
      await again.close();
    }
    await (await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy })).close();
    const otherDir = await FeatureStoreWriter.open(work, { imagesDir: join(dir, 'elsewhere'), encoder: toy });
    assert.match(otherDir.rebuilt ?? '', /images from/);
    await otherDir.close();
  });

  it('lets one run write a store at a time, and takes over the lock of a run that died', async () => {
    const work = join(dir, 'locked');
    const first = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy });
    await assert.rejects(FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy }), {
      code: 'FOLDER_LOCKED',
      message: new RegExp(`in use by another \`captioner features\` \\(pid ${process.pid}\\)`),
    });
    await first.close();
    // A crashed run leaves its lock behind, with the pid of a process that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await writeFile(join(featureStoreDir(work, 'toy'), LOCK_FILE), `${dead}\n`);
    const next = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: toy });
    await next.close();
  });

  it('refuses to read features of a registry encoder whose sha256 changed', async () => {
    const work = join(dir, 'registry');
    const wrong = { ...toy, name: 'mobilenetv2-int8', pooledDim: 4 };
    const store = await FeatureStoreWriter.open(work, { imagesDir: dir, encoder: wrong });
    await store.append([{ image: 'img0.jpg', pooled: vec(0) }]);
    await store.finish(true, []);
    await assert.rejects(readPooledFeatures(work), { code: 'FEATURES_STALE' });
  });
});

const modelPath = await sharedEncoderPath();

describe('captioner features pipeline (real encoder)', { skip: modelPath ? false : SKIP_NO_MODEL }, () => {
  const PHOTOS = [
    '1000268201_693b08cb0e.jpg',
    '1001773457_577c3a7d70.jpg',
    '1002674143_1b742ab4b8.jpg',
    '1003163366_44323f5815.jpg',
    '1007129816_e794419615.jpg',
  ];
  let dir: string;
  let images: string;
  let encoder: ImageEncoder;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'captioner-features-'));
    images = join(dir, 'Images');
    await mkdir(images);
    for (const p of PHOTOS) await symlink(join(flickrImages(), p), join(images, p));
    const jpeg = await readFile(join(flickrImages(), PHOTOS[0]));
    await writeFile(join(images, 'truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    await writeFile(join(images, 'notes.jpg'), 'A dog runs on the grass .\n');
    await writeFile(join(images, 'README.txt'), 'not listed: no image extension');
    encoder = await loadEncoder(undefined, { threads: 2 });
  });
  after(async () => {
    await encoder?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores every readable image, lists and skips the broken ones, and resumes', async () => {
    const work = join(dir, 'work');
    const summary = await computeFeatures({
      imagesDir: images,
      workDir: work,
      encoder,
      spatial: true,
      batch: 2,
      progress: false,
    });
    assert.equal(summary.images, 7);
    assert.equal(summary.computed, 5);
    assert.deepEqual(summary.skipped.map((s) => [s.image, s.code]).sort(), [
      ['notes.jpg', 'IMAGE_UNSUPPORTED'],
      ['truncated.jpg', 'IMAGE_CORRUPT'],
    ]);
    const features = await readPooledFeatures(work);
    assert.equal(features.dim, 1280);
    assert.deepEqual(features.images, PHOTOS);
    const direct = await encoder.encode(
      PHOTOS.map((p) => join(images, p)),
      { spatial: true },
    );
    PHOTOS.forEach((p, i) => assert.deepEqual(features.get(p), direct.pooled[i], p));

    const spatial = await openSpatialFeatures(work);
    try {
      assert.deepEqual(spatial.dims, [1280, 7, 7]);
      const map = (await spatial.read(PHOTOS[1]))!;
      const exact = direct.spatial![1];
      for (let i = 0; i < exact.length; i++)
        assert.ok(Math.abs(map[i] - exact[i]) <= 1e-3 * Math.max(1, exact[i]));
    } finally {
      await spatial.close();
    }

    // Run again: nothing left to compute but the broken files, which are retried and skipped again.
    const again = await computeFeatures({
      imagesDir: images,
      workDir: work,
      encoder,
      batch: 2,
      progress: false,
    });
    assert.equal(again.reused, 5);
    assert.equal(again.computed, 0);
    assert.equal(again.skipped.length, 2);
    assert.equal(again.rebuilt, undefined);
  });
});
