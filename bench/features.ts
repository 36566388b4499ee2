// Encoder-only and end-to-end (JPEG files → feature store) throughput, plus single-image latency.
// Usage: npm run bench:features -- [--images N] [--batch N] [--threads N] [--encoder name|path] [--json]
// Reads ../shared (CAPTIONER_SHARED) and finds the encoder through CAPTIONER_ASSET_PATH.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeFeatures, listImages } from '../src/vision/compute-features.js';
import { loadEncoder } from '../src/vision/encoder.js';
import { sharedDir } from '../src/util/paths.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string' },
    encoder: { type: 'string' },
    seconds: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const imagesDir = join(sharedDir(), 'flickr8k', 'Images');
const batch = Number(args.batch);
const log = (line: string) => process.stderr.write(line + '\n');

const encoder = await loadEncoder(args.encoder, { threads: args.threads ? Number(args.threads) : undefined });
const names = (await listImages(imagesDir)).slice(0, Number(args.images));
const [h, w] = encoder.identity.inputSize;
log(`encoder ${encoder.identity.name}, batch ${batch}, ${names.length} images from ${imagesDir}`);

// 1. Encoder only: inference on batches of already decoded, normalised images.
const input = new Float32Array(batch * 3 * h * w);
const decoded = await Promise.all(names.slice(0, batch).map((n) => encoder.decode(join(imagesDir, n))));
decoded.forEach((image, slot) => encoder.fill(image, input, slot));
await encoder.run(input, batch);
let runs = 0;
const t0 = performance.now();
while (performance.now() - t0 < Number(args.seconds) * 1000) {
  await encoder.run(input, batch);
  runs++;
}
const encoderImagesPerSecond = (runs * batch) / ((performance.now() - t0) / 1000);
log(`encoder only: ${encoderImagesPerSecond.toFixed(1)} images/s`);

// 2. End to end: files → decode → normalise → infer → store, as `captioner features` runs it.
const workDir = await mkdtemp(join(tmpdir(), 'captioner-bench-'));
let endToEndImagesPerSecond: number;
try {
  const summary = await computeFeatures({
    imagesDir,
    workDir,
    encoder,
    batch,
    limit: names.length,
    progress: false,
  });
  endToEndImagesPerSecond = summary.imagesPerSecond;
  log(
    `end to end: ${endToEndImagesPerSecond.toFixed(1)} images/s (${summary.computed} images, ${summary.seconds.toFixed(2)} s)`,
  );
} finally {
  await rm(workDir, { recursive: true, force: true });
}

// 3. One image at a time, file to pooled vector: the serving path.
const latencies: number[] = [];
for (const name of names.slice(0, 60)) {
  const t = performance.now();
  await encoder.encode([join(imagesDir, name)]);
  latencies.push(performance.now() - t);
}
latencies.sort((a, b) => a - b);
const singleImageMsP50 = latencies[Math.floor(latencies.length / 2)];
const singleImageMsP95 = latencies[Math.floor(latencies.length * 0.95)];
log(`single image: p50 ${singleImageMsP50.toFixed(2)} ms, p95 ${singleImageMsP95.toFixed(2)} ms`);
await encoder.dispose();

if (args.json)
  process.stdout.write(
    JSON.stringify({
      encoder: encoder.identity.name,
      batch,
      images: names.length,
      encoderImagesPerSecond,
      endToEndImagesPerSecond,
      singleImageMsP50,
      singleImageMsP95,
    }) + '\n',
  );
