import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { buildServer } from '../../src/serve/server.js';
import { whereLooked } from '../../web/src/where-looked.js';
import { buildWebPage, chromiumMissing, launchChromium, screenshotDir } from '../helpers/browser.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg } from '../helpers/images.js';
import { tinyAttentionModelDir } from '../helpers/tiny-model.js';
import { DOG_PHOTOS, flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

test('whereLooked: the part of the photo in words', () => {
  const at = (row: number, column: number) => {
    const w = new Array<number>(49).fill(0.2 / 48);
    w[row * 7 + column] = 0.8;
    return w;
  };
  assert.equal(whereLooked(at(0, 0), [7, 7]), 'mostly the top left');
  assert.equal(whereLooked(at(3, 3), [7, 7]), 'mostly the centre');
  assert.equal(whereLooked(at(6, 3), [7, 7]), 'mostly the bottom');
  assert.equal(whereLooked(at(3, 6), [7, 7]), 'mostly the right');
  assert.equal(whereLooked(new Array<number>(49).fill(1 / 49), [7, 7]), 'all over the photo');
});

const skipBrowser = chromiumMissing();

/** A page on a server around `captioner`, with the requests it makes and the errors it logs. */
async function serve(captioner: Captioner) {
  const webRoot = await buildWebPage();
  const app = buildServer({ captioner, webRoot });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}/` };
}

async function open(browser: Browser, url: string) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(url);
  // The model card tells the page whether to ask for attention.
  await page.waitForResponse((res) => res.url().endsWith('/api/model')).catch(() => undefined);
  await page.waitForLoadState('networkidle');
  // Heatmaps come from the server: where the page offers to caption on the device, choose the server.
  const server = page.locator('input[name="where"][value="server"]');
  if (await server.isVisible()) await server.check();
  return { page, problems, requests };
}

/** The largest alpha on the heat overlay: 0 when nothing is drawn. */
const overlayAlpha = (page: Page) =>
  page.evaluate<number>(`(() => {
    const canvas = document.querySelector('.heat-overlay');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let max = 0;
    for (let i = 3; i < data.length; i += 4) max = Math.max(max, data[i]);
    return max;
  })()`);

describe(
  'web page: where the model looked (tiny random attention model, real encoder)',
  { skip: skipBrowser },
  () => {
    let browser: Browser;
    let app: FastifyInstance | undefined;
    let captioner: Captioner | undefined;
    let url = '';
    let skip: string | undefined;
    const shots = join(screenshotDir(), 'attention');

    before(async () => {
      if (!(await sharedEncoderPath())) {
        skip = SKIP_NO_MODEL;
        return;
      }
      captioner = await loadCaptioner({ model: await tinyAttentionModelDir({ sharpen: 4 }) });
      ({ app, url } = await serve(captioner));
      browser = await launchChromium();
      mkdirSync(shots, { recursive: true });
    });
    after(async () => {
      await browser?.close();
      await app?.close();
      await captioner?.dispose();
    });

    test('focus, keys, hover and tap show a word’s heat over the photo; all words as panels', async (t) => {
      if (skip) return t.skip(skip);
      const { page, problems, requests } = await open(browser, url);
      const photo = await readFile(join(flickrImages(), DOG_PHOTOS[0]));
      await page
        .locator('#file-input')
        .setInputFiles({ name: 'dog.jpg', mimeType: 'image/jpeg', buffer: photo });
      const words = page.locator('#attention-words button');
      await words.first().waitFor();
      assert.ok(
        requests.some((r) => /\/api\/caption\?.*attention=1/.test(r)),
        requests.join('\n'),
      );
      const caption = (await page.locator('#caption').textContent())!;
      const count = await words.count();
      assert.equal(count, caption.replace(/\.$/, '').split(' ').length, caption);
      assert.equal(await page.locator('.heat-overlay').isVisible(), false, 'no heat before a word is chosen');

      // Keyboard: focus a word → its heat, said in words; arrows move to the next word; Escape hides.
      const first = (await words.first().textContent())!;
      assert.equal(await words.first().getAttribute('aria-label'), `Where the model looked for “${first}”`);
      await words.first().focus();
      await page.locator('.heat-overlay').waitFor({ state: 'visible' });
      assert.ok((await overlayAlpha(page)) > 100, 'heat is drawn');
      const box = await page.locator('#preview').boundingBox();
      const overlay = await page.locator('.heat-overlay').boundingBox();
      for (const key of ['x', 'y', 'width', 'height'] as const)
        assert.ok(Math.abs(overlay![key] - box![key]) < 0.5, `the heat covers the photo (${key})`);
      assert.match(
        (await page.locator('#attention-status').textContent())!,
        new RegExp(`^Where the model looked for “${first}”: (mostly the|all over the photo)`),
      );
      await page.screenshot({ path: join(shots, 'focus-first-word.png'), fullPage: true });
      await page.keyboard.press('ArrowRight');
      const second = (await words.nth(1).textContent())!;
      assert.equal(await page.evaluate<string>('document.activeElement.textContent'), second);
      assert.match((await page.locator('#attention-status').textContent())!, new RegExp(`for “${second}”`));
      await page.keyboard.press('Escape');
      await page.locator('.heat-overlay').waitFor({ state: 'hidden' });

      // Hover shows, leaving hides; a tap keeps it shown.
      await page.locator('#copy').focus();
      const last = words.nth(count - 1);
      await last.hover();
      await page.locator('.heat-overlay').waitFor({ state: 'visible' });
      await page.mouse.move(5, 5);
      await page.locator('.heat-overlay').waitFor({ state: 'hidden' });
      await last.click();
      assert.equal(await last.getAttribute('aria-pressed'), 'true');
      await page.mouse.move(5, 5);
      assert.equal(await page.locator('.heat-overlay').isVisible(), true, 'a tapped word stays shown');

      // All words at once.
      const toggle = page.locator('#attention-toggle');
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      const panels = page.locator('#attention-panels canvas[role="img"]');
      assert.equal(await panels.count(), count);
      assert.match(
        (await panels.first().getAttribute('aria-label'))!,
        new RegExp(`^Where the model looked for “${first}”`),
      );
      await page.screenshot({ path: join(shots, 'all-words.png'), fullPage: true });
      t.diagnostic(`screenshots in ${shots}`);
      assert.deepEqual(problems, []);
      await page.context().close();
    });
  },
);

describe('web page with a model without attention', { skip: skipBrowser }, () => {
  let browser: Browser;
  let app: FastifyInstance;

  before(async () => {
    let url: string;
    ({ app, url } = await serve(new DoubleCaptioner()));
    browser = await launchChromium();
    (app as FastifyInstance & { url?: string }).url = url;
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('asks for no attention and shows no words to hover', async () => {
    const { page, problems, requests } = await open(
      browser,
      (app as FastifyInstance & { url?: string }).url!,
    );
    await page
      .locator('#file-input')
      .setInputFiles({ name: 'made.jpg', mimeType: 'image/jpeg', buffer: await makeJpeg(320, 240) });
    await page.locator('#caption').filter({ hasNotText: 'Writing a caption' }).waitFor();
    assert.ok(requests.some((r) => r.includes('/api/caption?')));
    assert.ok(!requests.some((r) => r.includes('attention=1')), requests.join('\n'));
    assert.equal(await page.locator('#attention').isVisible(), false);
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});
