import { findImagesDir as findDatasetImagesDir } from '../data/corpus.js';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { CaptionerError, errnoCode, isCaptionerError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import type { DecodedImage } from './decode-image.js';
import type { ImageEncoder } from './encoder.js';
import { FeatureStoreWriter, type SkippedImage, type StoreManifest } from './feature-store.js';
import { mirrorPixels } from './preprocess.js';

/** Files taken as images when listing a folder (the content is still sniffed when decoding). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
]);

export interface ComputeFeaturesOptions {
  /** The image folder (Flickr8k's Images/, or any folder of photos). */
  imagesDir: string;
  workDir: string;
  encoder: ImageEncoder;
  spatial?: boolean;
  /** Images per inference run (default 32). */
  batch?: number;
  /** Only the first `limit` images of the folder (benchmarks, tests). */
  limit?: number;
  /** The images to encode, as paths relative to imagesDir (nested folders too), instead of its files. */
  images?: string[];
  /** Progress bar on stderr (default: on). */
  progress?: boolean;
  /** Encode each photo mirrored left to right, into a store of its own (`train --augment mirror`). */
  mirror?: boolean;
}

export interface ComputeFeaturesSummary {
  storeDir: string;
  images: number;
  computed: number;
  reused: number;
  skipped: SkippedImage[];
  seconds: number;
  imagesPerSecond: number;
  /** Why an existing store was rebuilt instead of resumed. */
  rebuilt?: string;
  manifest: StoreManifest;
  bytes: { pooled: number; spatial: number };
}

/** The image folder of a dataset folder: its Images/ (as `prepare` finds it) when there is one, else the folder itself. */
export async function findImagesDir(dataDir: string): Promise<string> {
  const dir = resolve(dataDir);
  const images = await findDatasetImagesDir(dir);
  if (images) return images;
  try {
    if ((await stat(dir)).isDirectory()) return dir;
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
  throw new CaptionerError('DATA_NOT_FOUND', `${dir}: no such folder`);
}

export async function listImages(imagesDir: string): Promise<string[]> {
  const entries = await readdir(imagesDir, { withFileTypes: true });
  return entries
    .filter(
      (e) =>
        !e.name.startsWith('.') && !e.isDirectory() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()),
    )
    .map((e) => e.name)
    .sort();
}

/**
 * Computes the features of every image of a folder into the work folder's store, resuming where an
 * earlier run stopped. Decoding (sharp, on libuv's threads) runs ahead of inference (onnxruntime) so the
 * two overlap; unreadable images are listed and skipped.
 */
export async function computeFeatures(options: ComputeFeaturesOptions): Promise<ComputeFeaturesSummary> {
  const start = performance.now();
  const { encoder } = options;
  const batchSize = options.batch ?? 32;
  if (options.spatial && !encoder.spatialDims)
    throw new CaptionerError('ENCODER_NO_SPATIAL', `${encoder.identity.name} has no spatial map to store`);
  const all = options.images ? [...options.images].sort() : await listImages(options.imagesDir);
  const images = options.limit ? all.slice(0, options.limit) : all;
  if (images.length === 0)
    throw new CaptionerError(
      'DATA_NOT_FOUND',
      `${options.imagesDir}: no images (.jpg, .png, .webp, …) found`,
    );

  const store = await FeatureStoreWriter.open(options.workDir, {
    imagesDir: options.imagesDir,
    encoder: encoder.identity,
    spatialDims: options.spatial ? encoder.spatialDims : undefined,
    view: options.mirror ? 'mirrored' : undefined,
  });
  const todo = images.filter((image) => store.needs(image));
  const skipped: SkippedImage[] = [];
  const progress = createProgress({
    label: options.mirror ? 'features (mirrored)' : 'features',
    total: todo.length,
    unit: 'img',
    enabled: options.progress ?? true,
  });
  let manifest: StoreManifest | undefined;
  try {
    await runPipeline(todo, options, batchSize, store, skipped, (n) => progress.tick(n));
    progress.stop();
    skipped.sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
    manifest = await store.finish(true, skipped);
  } finally {
    if (!manifest) {
      // Interrupted: what was appended stays, and a rerun resumes after it.
      progress.stop();
      await store.finish(false, skipped);
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    storeDir: store.dir,
    images: images.length,
    computed: todo.length - skipped.length,
    reused: images.length - todo.length,
    skipped,
    seconds,
    imagesPerSecond: (todo.length - skipped.length) / seconds,
    rebuilt: store.rebuilt,
    manifest,
    bytes: await store.sizes(),
  };
}

/**
 * Keeps up to `2 × batch` decodes in flight; whenever a batch worth of images is decoded, runs it.
 * onnxruntime's run blocks the JS thread, but the decodes already queued keep going on libuv's threads.
 */
async function runPipeline(
  todo: string[],
  options: ComputeFeaturesOptions,
  batchSize: number,
  store: FeatureStoreWriter,
  skipped: SkippedImage[],
  tick: (n: number) => void,
): Promise<void> {
  const { encoder } = options;
  const [h, w] = encoder.identity.inputSize;
  const input = new Float32Array(batchSize * 3 * h * w);
  const ready: { image: string; decoded: DecodedImage }[] = [];
  const inFlightLimit = Math.max(2 * batchSize, 8);
  let next = 0;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;

  const launch = () => {
    while (inFlight < inFlightLimit && next < todo.length && ready.length < 2 * batchSize) {
      const image = todo[next++];
      inFlight++;
      encoder
        .decode(join(options.imagesDir, image))
        .then(
          (decoded) => {
            if (options.mirror) mirrorPixels(decoded.data, decoded.width, decoded.height, 3);
            ready.push({ image, decoded });
          },
          (error) => {
            if (isCaptionerError(error)) {
              skipped.push({ image, code: error.code, reason: error.message });
              tick(1);
            } else failure ??= error;
          },
        )
        .finally(() => {
          inFlight--;
          wake?.();
        });
    }
  };

  for (;;) {
    launch();
    const remaining = next < todo.length || inFlight > 0;
    if (failure) throw failure;
    if (ready.length >= batchSize || (!remaining && ready.length > 0)) {
      const batch = ready.splice(0, batchSize);
      batch.forEach((item, slot) => encoder.fill(item.decoded, input, slot));
      launch(); // refill the decode queue before the run blocks the thread
      const out = await encoder.run(input, batch.length, { spatial: options.spatial });
      const dim = encoder.identity.pooledDim;
      const per = out.spatial ? out.spatial.length / batch.length : 0;
      await store.append(
        batch.map((item, i) => ({
          image: item.image,
          pooled: out.pooled.subarray(i * dim, (i + 1) * dim),
          spatial: out.spatial?.subarray(i * per, (i + 1) * per),
        })),
      );
      tick(batch.length);
      continue;
    }
    if (!remaining) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
}
