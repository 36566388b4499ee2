import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildBundle, writeBundle } from '../../src/export/bundle.js';
import { onnxruntimeWebDist } from '../../src/export/ort-files.js';
import { writeStaticPage } from '../../src/export/static-page.js';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { buildServer } from '../../src/serve/server.js';
import { buildWebPage, chromiumMissing, launchChromium, screenshotDir } from '../helpers/browser.js';
import { flickrPhoto, loadRealCaptioner } from '../helpers/real-captioner.js';

const PHOTOS = 5;

/**
 * The page captions on the device: with POST /api/caption blocked, five Flickr8k photos uploaded one
 * by one through the file input get captions, the same as the server's, and the page never asks the
 * server to caption.
 */
describe('on-device captioning in Chromium (real model)', { skip: chromiumMissing() }, () => {
  let browser: Browser;
  let app: FastifyInstance | undefined;
  let captioner: Captioner | undefined;
  let skip: string | undefined;
  let url = '';
  let webRoot = '';
  const shots = join(screenshotDir(), 'on-device');

  before(async () => {
    ({ captioner, skip } = await loadRealCaptioner());
    if (!captioner) return;
    if (!flickrPhoto(0)) {
      skip = 'Flickr8k photos not found (CAPTIONER_SHARED)';
      return;
    }
    webRoot = await buildWebPage();
    app = buildServer({ captioner, webRoot });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/`;
    browser = await launchChromium();
    mkdirSync(shots, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await captioner?.dispose();
  });

  async function open(
    context: BrowserContext,
  ): Promise<{ page: Page; captionRequests: string[]; problems: string[] }> {
    const captionRequests: string[] = [];
    const problems: string[] = [];
    await context.route('**/api/caption**', (route) => {
      captionRequests.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(String(error)));
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
    await page.goto(url);
    return { page, captionRequests, problems };
  }

  test('five photos, one by one, with /api/caption blocked: the server’s captions, no request to it', async (t) => {
    if (skip) return t.skip(skip);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, captionRequests, problems } = await open(context);
    assert.equal(
      await page.evaluate('crossOriginIsolated'),
      true,
      'COOP/COEP make the page cross-origin isolated',
    );
    // Isolated: wasm threads, at least 2 where the machine has 2 cores.
    const cores = Number(await page.evaluate('navigator.hardwareConcurrency'));
    await page.locator('#model-status[data-ready="true"]').waitFor({ timeout: 120_000 });
    const threads = Number(await page.locator('#model-status').getAttribute('data-threads'));
    // onnxruntime-web's loader came with the page (index.html's modulepreload), from where it imports it.
    assert.deepEqual(await preloadedModules(page), [
      [`${new URL(url).origin}/ort/${onnxruntimeWebDist()!.version}/ort-wasm-simd-threaded.mjs`, 200],
    ]);
    // The files were read and their weights folded in the page's loading worker, not its main thread.
    assert.equal(await page.locator('#model-status').getAttribute('data-folded-in-worker'), 'true');
    assert.ok(
      threads >= Math.min(2, cores) && threads <= Math.min(4, cores),
      `${threads} threads, ${cores} cores`,
    );
    let same = 0;
    const seen: string[] = [];
    for (let i = 0; i < PHOTOS; i++) {
      const path = flickrPhoto(i)!;
      const name = path.split('/').pop()!;
      await page
        .locator('#file-input')
        .setInputFiles({ name, mimeType: 'image/jpeg', buffer: await readFile(path) });
      // Each photo's own timing line names it once its caption is shown.
      await page.locator('#timing').filter({ hasText: name }).waitFor({ timeout: 120_000 });
      const shown = (await page.locator('#caption').textContent())!.trim();
      assert.match((await page.locator('#timing').textContent())!, /on this device/);
      const served = await captioner!.caption(path);
      const expected = served.caption.charAt(0).toUpperCase() + served.caption.slice(1) + '.';
      if (shown === expected) same++;
      seen.push(`${name}: page “${shown}”, server “${expected}”`);
    }
    t.diagnostic(seen.join('\n'));
    assert.ok(same >= 4, `same caption as the server on ${same} of ${PHOTOS}:\n${seen.join('\n')}`);
    assert.deepEqual(captionRequests, [], 'the page asked the server to caption');
    assert.match((await page.locator('#where-hint').textContent())!, /stays on your device/);
    assert.deepEqual(problems, []);
    await page.screenshot({ path: join(shots, 'on-device.png'), fullPage: true });
    // A second visit reads the model from the browser's cache.
    const again = await context.newPage();
    await again.goto(url);
    await again.locator('#model-status[data-ready="true"]').waitFor({ timeout: 60_000 });
    assert.match((await again.locator('#model-status-text').textContent())!, /from its cache/);
    await context.close();
  });

  test('not an image: a readable sentence, still no request to the server', async (t) => {
    if (skip) return t.skip(skip);
    const context = await browser.newContext();
    const { page, captionRequests } = await open(context);
    await page.locator('#file-input').setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('These are my notes, not a photo.\n'),
    });
    const alert = page.locator('#error[role="alert"]');
    await alert.waitFor({ state: 'visible', timeout: 120_000 });
    assert.match(
      (await alert.textContent())!,
      /“notes\.txt” could not be captioned\. That file isn't a photo/,
    );
    assert.deepEqual(captionRequests, []);
    await context.close();
  });

  test('the static build (captioner export --with-page) captions with no server at all, on one thread', async (t) => {
    if (skip) return t.skip(skip);
    const site = await mkdtemp(join(tmpdir(), 'captioner-static-'));
    await writeBundle(await writeStaticPage(site, webRoot), await buildBundle());
    // A plain static host: no API, no cross-origin isolation headers.
    const host = Fastify();
    await host.register(fastifyStatic, { root: site });
    await host.listen({ port: 0, host: '127.0.0.1' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(String(error)));
      await page.goto(`http://127.0.0.1:${(host.server.address() as { port: number }).port}/`);
      const path = flickrPhoto(0)!;
      const name = path.split('/').pop()!;
      await page
        .locator('#file-input')
        .setInputFiles({ name, mimeType: 'image/jpeg', buffer: await readFile(path) });
      await page.locator('#timing').filter({ hasText: name }).waitFor({ timeout: 120_000 });
      const served = await captioner!.caption(path);
      assert.equal(
        (await page.locator('#caption').textContent())!.trim().toLowerCase(),
        served.caption + '.',
      );
      assert.equal(await page.locator('#where').isVisible(), false, 'no server: nothing to choose');
      assert.match((await page.locator('#model-info').textContent())!, /never leave your device/);
      assert.equal(await page.locator('#model-status').getAttribute('data-threads'), '1');
      const [[preloaded, status]] = await preloadedModules(page);
      assert.match(preloaded, /\/ort\/[^/]+\/ort-wasm-simd-threaded\.mjs$/);
      assert.equal(status, 200);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      await host.close();
    }
  });
});

/** The modules the page preloads (its <link rel="modulepreload">): address, and the status it was fetched with. */
function preloadedModules(page: Page): Promise<[string, number][]> {
  // A string: the tests are type-checked without the DOM's types.
  return page.evaluate(`[...document.querySelectorAll('link[rel="modulepreload"]')].map((link) => [
    link.href,
    performance.getEntriesByName(link.href)[0]?.responseStatus ?? 0,
  ])`);
}
