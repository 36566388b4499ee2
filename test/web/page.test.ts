import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { buildServer } from '../../src/serve/server.js';
import { buildWebPage, chromiumMissing, launchChromium, screenshotDir } from '../helpers/browser.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg } from '../helpers/images.js';
import { flickrPhoto, loadRealCaptioner } from '../helpers/real-captioner.js';

const skipBrowser = chromiumMissing();
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

/** A photo to upload: a Flickr8k test photo when ../shared has it, else one made with sharp. */
async function photo(index = 0): Promise<{ name: string; mimeType: string; buffer: Buffer }> {
  const path = flickrPhoto(index);
  return path
    ? { name: path.split('/').pop()!, mimeType: 'image/jpeg', buffer: await readFile(path) }
    : { name: `made-${index}.jpg`, mimeType: 'image/jpeg', buffer: await makeJpeg(320, 240) };
}

/** The same checks, once against the test double and once (when it loads) against the real model. */
function pageTests(label: string, load: () => Promise<{ captioner?: Captioner; skip?: string }>) {
  describe(`web page in Chromium (${label})`, { skip: skipBrowser }, () => {
    let browser: Browser;
    let app: FastifyInstance | undefined;
    let url = '';
    let skip: string | undefined;
    let captioner: Captioner | undefined;
    const shots = join(screenshotDir(), label.replace(/\W+/g, '-'));

    before(async () => {
      ({ captioner, skip } = await load());
      if (!captioner) return;
      const webRoot = await buildWebPage();
      // No on-device model: these tests drive the server's API (test/web/on-device.test.ts the device).
      app = buildServer({ captioner, webRoot, bundle: null });
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
      viewport: { width: number; height: number },
      colorScheme: 'light' | 'dark' = 'light',
    ): Promise<Page> {
      const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(String(error)));
      page.on(
        'console',
        // The page looks for an on-device model at model/ first (there is none here).
        (msg) =>
          msg.type() === 'error' && !msg.location().url.includes('/model/') && problems.push(msg.text()),
      );
      await page.goto(url);
      (page as Page & { problems?: string[] }).problems = problems;
      return page;
    }

    test('upload a photo → caption, alternatives with scores, gallery, copy as alt text', async (t) => {
      if (skip) return t.skip(skip);
      const page = await open(DESKTOP);
      await page.locator('#file-input').setInputFiles(await photo(0));
      const caption = page.locator('#caption');
      await caption.filter({ hasNotText: 'Writing a caption' }).waitFor();
      const text = (await caption.textContent())!.trim();
      assert.match(text, /^[A-Z].*\w.*\.$/, `caption: ${text}`);
      assert.ok(text.split(' ').length >= 2, text);
      assert.equal(
        await page.locator('#preview').getAttribute('alt'),
        text,
        'the preview uses the caption as alt',
      );
      assert.ok((await page.locator('#alternatives li').count()) >= 1);
      assert.match((await page.locator('#alternatives li').first().textContent())!, /score −?\d\.\d\d/);
      assert.equal(await page.locator('#gallery li').count(), 1);
      await page.locator('#copy').click();
      await page.locator('#copy-status').filter({ hasText: 'Copied' }).waitFor();
      assert.equal(await page.evaluate<string>('navigator.clipboard.readText()'), text);
      // A second photo: the gallery keeps both, and the first can be shown again.
      await page.locator('#file-input').setInputFiles(await photo(1));
      await page.locator('#gallery li').nth(1).waitFor();
      await page.locator('#gallery li button').nth(1).click();
      assert.equal((await caption.textContent())!.trim(), text);
      assert.deepEqual((page as Page & { problems?: string[] }).problems, []);
      await page.screenshot({ path: join(shots, 'desktop-caption.png'), fullPage: true });
      t.diagnostic(`screenshots in ${shots}`);
      await page.context().close();
    });

    test('upload a text file → a readable sentence, not a code', async (t) => {
      if (skip) return t.skip(skip);
      const page = await open(DESKTOP);
      await page.locator('#file-input').setInputFiles({
        name: 'notes.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('These are my notes, not a photo.\n'),
      });
      const alert = page.locator('#error[role="alert"]');
      await alert.waitFor({ state: 'visible' });
      const message = (await alert.textContent())!;
      assert.match(message, /“notes\.txt” could not be captioned\. That file isn't a photo/);
      assert.doesNotMatch(message, /IMAGE_|UNSUPPORTED|415|\{/);
      assert.equal(await page.locator('#result').isVisible(), false);
      await page.screenshot({ path: join(shots, 'desktop-error.png'), fullPage: true });
      await page.context().close();
    });

    test('phone width (dark scheme): no sideways scrolling, caption shown', async (t) => {
      if (skip) return t.skip(skip);
      const page = await open(PHONE, 'dark');
      await page.locator('#file-input').setInputFiles(await photo(2));
      await page.locator('#caption').filter({ hasNotText: 'Writing a caption' }).waitFor();
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      await page.screenshot({ path: join(shots, 'phone-caption.png'), fullPage: true });
      await page.context().close();
    });

    test('keyboard: skip link, then the photo button, with a visible focus ring; labelled regions', async (t) => {
      if (skip) return t.skip(skip);
      const page = await open(DESKTOP);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate<string>('document.activeElement.className'), 'skip-link');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate<string>('document.activeElement.id'), 'choose');
      const outline = await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle');
      assert.equal(outline, 'solid');
      assert.equal(await page.locator('#caption').getAttribute('aria-live'), 'polite');
      assert.equal(await page.locator('label[for="beam"]').count(), 1);
      await page.screenshot({ path: join(shots, 'desktop-focus.png') });
      await page.context().close();
    });
  });
}

pageTests('test double', async () => ({ captioner: new DoubleCaptioner() }));
pageTests('real captioner', loadRealCaptioner);
