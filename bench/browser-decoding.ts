// How close the page's preprocessing comes to the server's on big JPEGs, and what it costs: Flickr8k
// dev photos made 1-megapixel JPEGs (1155×866; --size for others), squashed to 224×224 by the server (sharp: libjpeg's
// shrink-on-load, then Lanczos-3) and by the page's photoPixels in headless Chromium two ways (a JPEG
// decoded at the shrunk size by ImageDecoder, the default; the whole photo decoded by createImageBitmap
// and halved on a canvas, where there is no ImageDecoder). Each 224×224 input is captioned by the same
// bundle (in Node), so only the preprocessing differs: the mean pixel difference from the server's,
// how often the caption is the server's, the captions' scores against the references, and the time
// photoPixels takes in the page.
//   npx tsx bench/browser-decoding.ts [--photos 300] [--size 1155x866]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { BundleCaptioner } from '../src/browser/bundle-captioner.js';
import { loadReferences } from '../src/eval/references.js';
import { formatScores, scoreCaptions } from '../src/eval/score.js';
import { buildBundle } from '../src/export/bundle.js';
import { decodeImage } from '../src/vision/decode-image.js';
import { openImagePage } from '../test/helpers/browser.js';

const args = process.argv.slice(2);
const count = Number(args[args.indexOf('--photos') + 1] || 300);
const sizeArg = args.includes('--size') ? args[args.indexOf('--size') + 1] : '1155x866';
const [photoW, photoH] = sizeArg.split('x').map(Number);
if (!(photoW > 0 && photoH > 0)) throw new Error(`--size WxH, got ${sizeArg}`);
const data = join(process.env.CAPTIONER_SHARED ?? '../shared', 'flickr8k');
const references = await loadReferences({ dataDir: data }, 'dev');
const names = [...references.keys()].slice(0, count);
const { config, files } = await buildBundle();
const bundle = await BundleCaptioner.create(config, async (name) => files.get(name)!);

let batch: Buffer[] = [];
const { page, close } = await openImagePage((path) => batch[Number(path.slice(1))]);

const ways = ['server (sharp)', 'page, ImageDecoder', 'page, whole photo'] as const;
const captions = ways.map(() => new Map<string, string>());
const same = [0, 0, 0];
const difference = [0, 0, 0];
const ms: number[][] = [[], [], []];
for (let b = 0; b < names.length; b += 20) {
  const chunk = names.slice(b, b + 20);
  batch = await Promise.all(
    chunk.map(async (n) =>
      sharp(await readFile(join(data, 'Images', n)))
        .resize(photoW, photoH, { fit: 'fill' })
        .jpeg({ quality: 90 })
        .toBuffer(),
    ),
  );
  // Each photo's 224×224 RGBA both ways (base64), and photoPixels' time.
  const pages = (await page.evaluate(`(async () => {
    const { photoPixels } = await import('/image.js');
    const Decoder = globalThis.ImageDecoder;
    const base64 = (u) => { let s = ''; for (let k = 0; k < u.length; k += 0x8000) s += String.fromCharCode.apply(null, u.subarray(k, k + 0x8000)); return btoa(s); };
    const out = [];
    for (let i = 0; i < ${chunk.length}; i++) {
      const blob = await (await fetch('/' + i)).blob();
      const row = [];
      for (const withDecoder of [true, false]) {
        globalThis.ImageDecoder = withDecoder ? Decoder : undefined;
        const t0 = performance.now();
        const { data } = await photoPixels(blob, [224, 224]);
        row.push([base64(new Uint8Array(data.buffer, data.byteOffset, data.length)), performance.now() - t0]);
      }
      globalThis.ImageDecoder = Decoder;
      out.push(row);
    }
    return out;
  })()`)) as [string, number][][];
  for (const [i, name] of chunk.entries()) {
    const serverPixels = (await decodeImage(batch[i], { width: 224, height: 224 })).data;
    const inputs: [ArrayLike<number>, 3 | 4][] = [
      [serverPixels, 3],
      ...pages[i].map(([b64]): [Uint8Array, 4] => [Buffer.from(b64, 'base64'), 4]),
    ];
    pages[i].forEach(([, t], k) => ms[k + 1].push(t));
    for (const [k, [pixels, channels]] of inputs.entries()) {
      let sum = 0;
      for (let p = 0; p < 224 * 224; p++)
        for (let c = 0; c < 3; c++) sum += Math.abs(pixels[p * channels + c] - serverPixels[p * 3 + c]);
      difference[k] += sum / (224 * 224 * 3) / names.length;
      const caption = (await bundle.captionPixels(pixels, channels)).caption;
      captions[k].set(name, caption);
      if (caption === captions[0].get(name)) same[k]++;
    }
  }
  process.stderr.write(`\r${b + chunk.length} / ${names.length} photos`);
}
process.stderr.write('\n');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  `${names.length} Flickr8k dev photos as ${photoW}×${photoH} JPEGs, captioned by the bundle in Node from each 224×224 input:`,
);
for (const [k, way] of ways.entries())
  console.log(
    `  ${way.padEnd(20)} mean |pixel − server's| ${difference[k].toFixed(2)}, the server's caption on ${same[k]} / ${names.length}` +
      (k > 0 ? `, photoPixels p50 ${median(ms[k]).toFixed(1)} ms` : ''),
  );
for (const [k, way] of ways.entries()) console.log(formatScores(scoreCaptions(captions[k], references), way));
await close();
await bundle.dispose();
