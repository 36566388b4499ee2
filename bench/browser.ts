// On-device captioning in headless Chromium (Debian's, through playwright-core): the page served by
// the captioner's server, the bundled model. Measures the model's start from the browser's cache (a
// second visit) and a 1-megapixel JPEG captioned on the device (decoding and resampling, the encoder,
// the decoder's beam search), as the page reports them. Run alone: the machine is shared.
//   npm run bench:browser [-- --runs 20] [--no-isolation] [--threads N] [--pause ms] [--json]
// (--pause: wait before each photo, as a person picking photos one by one would; default none.)
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { buildServer } from '../src/serve/server.js';
import { chromium } from 'playwright-core';
import { buildWebPage, CHROMIUM } from '../test/helpers/browser.js';
import { flickrPhoto, loadRealCaptioner } from '../test/helpers/real-captioner.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 20);
const json = args.includes('--json');
const noIsolation = args.includes('--no-isolation');
const threadsArg = args.indexOf('--threads');
const pauseArg = args.indexOf('--pause');
const pause = pauseArg >= 0 ? Number(args[pauseArg + 1]) : 0;
const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : undefined;

const { captioner, skip } = await loadRealCaptioner();
if (!captioner) throw new Error(skip);
const source = flickrPhoto(0);
if (!source) throw new Error('no Flickr8k photo (CAPTIONER_SHARED)');
// A 1-megapixel JPEG (1155×866) from a Flickr8k photo.
const photo = await sharp(await readFile(source))
  .resize(1155, 866, { fit: 'fill' })
  .jpeg({ quality: 90 })
  .toBuffer();
const webRoot = await buildWebPage();
// As `captioner serve`: the on-device bundle built as the server starts, and the first visit made once
// it is (a visitor arriving at a running server).
const app = buildServer({ captioner, webRoot, buildBundleAtStart: true });
await app.listen({ port: 0, host: '127.0.0.1' });
while ((await app.inject({ url: '/healthz' })).json().bundle === 'building')
  await new Promise((resolve) => setTimeout(resolve, 50));
const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/${threads ? `?threads=${threads}` : ''}`;
// A browser profile on disk, as a visitor's: the HTTP cache (and V8's cache of compiled WebAssembly)
// and Cache Storage persist between visits.
const profile = await mkdtemp(join(tmpdir(), 'captioner-bench-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
if (noIsolation) {
  // Off: a page that is not cross-origin isolated (most static hosts) runs one thread.
  await context.route('**/*', async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-embedder-policy'];
    delete headers['cross-origin-opener-policy'];
    await route.fulfill({ response, headers });
  });
}

const p = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const readyOf = async () => {
  const page = await context.newPage();
  await page.goto(url);
  const status = page.locator('#model-status[data-ready="true"]');
  await status.waitFor({ timeout: 300_000 });
  return {
    page,
    ms: Number(await status.getAttribute('data-ready-ms')),
    filesMs: Number(await status.getAttribute('data-files-ms')),
    startMs: Number(await status.getAttribute('data-start-ms')),
    threads: Number(await status.getAttribute('data-threads')),
    foldMs: Number(await status.getAttribute('data-fold-ms')),
    foldedInWorker: (await status.getAttribute('data-folded-in-worker')) === 'true',
    encoderMs: Number(await status.getAttribute('data-encoder-ms')),
    decoderMs: Number(await status.getAttribute('data-decoder-ms')),
  };
};

const first = await readyOf(); // downloads the model and the runtime, and keeps them
await first.page.close();
const fromCache: number[] = [];
const parts: string[] = [];
for (let i = 0; i < 5; i++) {
  const visit = await readyOf();
  fromCache.push(visit.ms);
  parts.push(
    `${visit.ms} (files ${visit.filesMs}, folding ${visit.foldMs}${visit.foldedInWorker ? ' in the worker' : ''}, runtime + encoder ${visit.encoderMs}, decoder ${visit.decoderMs}; ${visit.threads} threads)`,
  );
  if (i < 4) await visit.page.close();
  else {
    const page = visit.page;
    const isolated = await page.evaluate('crossOriginIsolated');
    const t = {
      total: [] as number[],
      decode: [] as number[],
      encode: [] as number[],
      generate: [] as number[],
      wall: [] as number[],
    };
    let caption = '';
    for (let r = 0; r < runs + 2; r++) {
      const name = `photo-${r}.jpg`;
      if (pause > 0) await page.waitForTimeout(pause);
      const t0 = Date.now();
      await page.locator('#file-input').setInputFiles({ name, mimeType: 'image/jpeg', buffer: photo });
      const line = (await page
        .locator('#timing')
        .filter({ hasText: name })
        .textContent({ timeout: 60_000 }))!;
      const wall = Date.now() - t0;
      const m = /in (\d+) ms \(reading (\d+) ms, seeing (\d+) ms, writing (\d+) ms\)/.exec(line)!;
      caption = (await page.locator('#caption').textContent())!;
      if (r < 2) continue; // warm-up
      t.total.push(+m[1]);
      t.decode.push(+m[2]);
      t.encode.push(+m[3]);
      t.generate.push(+m[4]);
      t.wall.push(wall);
    }
    const result = {
      crossOriginIsolated: isolated,
      firstVisitReadyMs: first.ms,
      readyFromCacheMs: { p50: p(fromCache, 0.5), all: fromCache },
      captionMs: {
        p50: p(t.total, 0.5),
        p95: p(t.total, 0.95),
        decodeP50: p(t.decode, 0.5),
        encoderP50: p(t.encode, 0.5),
        decoderP50: p(t.generate, 0.5),
        uploadToCaptionP50: p(t.wall, 0.5),
      },
      runs,
      caption,
    };
    const out = [
      `Chromium headless, page from the captioner's server, cross-origin isolated: ${isolated}`,
      `model ready: first visit ${first.ms} ms (download), from the cache p50 ${result.readyFromCacheMs.p50} ms: ${parts.join('; ')}`,
      `1-MP JPEG (1155×866), ${runs} runs: p50 ${result.captionMs.p50} ms, p95 ${result.captionMs.p95} ms — decoding + resampling ${result.captionMs.decodeP50} ms, encoder ${result.captionMs.encoderP50} ms, decoder (beam 3) ${result.captionMs.decoderP50} ms; upload to caption on screen ${result.captionMs.uploadToCaptionP50} ms`,
      `caption: ${caption}`,
    ];
    process.stdout.write(out.join('\n') + '\n');
    if (json) process.stdout.write(JSON.stringify(result) + '\n');
  }
}
await context.close();
await rm(profile, { recursive: true, force: true });
await app.close();
await captioner.dispose();
