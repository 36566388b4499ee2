import { existsSync } from 'node:fs';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (the `chromium` package; .ci/run installs it). */
export const CHROMIUM = process.env.CAPTIONER_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM)
    ? undefined
    : `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CAPTIONER_CHROMIUM)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/** Builds the page from web/ into a fresh folder, so the test always sees the current sources. */
export async function buildWebPage(): Promise<string> {
  const { build } = await import('vite');
  const outDir = await mkdtemp(join(tmpdir(), 'captioner-web-'));
  await build({
    configFile: fileURLToPath(new URL('../../web/vite.config.ts', import.meta.url)),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/**
 * src/browser/image.ts (photoPixels and what it imports) built for the browser as the page builds it:
 * the module's text, for a bare page to import.
 */
export async function buildImageModule(): Promise<string> {
  const { build } = await import('vite');
  const outDir = await mkdtemp(join(tmpdir(), 'captioner-pixels-'));
  try {
    await build({
      configFile: false,
      logLevel: 'warn',
      build: {
        outDir,
        emptyOutDir: true,
        lib: {
          entry: fileURLToPath(new URL('../../src/browser/image.ts', import.meta.url)),
          formats: ['es'],
          fileName: () => 'image.js',
        },
        minify: false,
      },
    });
    return await readFile(join(outDir, 'image.js'), 'utf8');
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

/** Where screenshots go: CAPTIONER_SCREENSHOTS, else a folder in the system's temp dir. */
export function screenshotDir(): string {
  return process.env.CAPTIONER_SCREENSHOTS ?? join(tmpdir(), 'captioner-screenshots');
}

/**
 * A bare Chromium page served by a little HTTP server of its own: `/image.js` (buildImageModule) for it
 * to import, and the JPEG `photo(path)` gives for any other path it asks for. `close` stops both.
 */
export async function openImagePage(
  photo: (path: string) => Buffer | undefined,
): Promise<{ page: Page; close(): Promise<void> }> {
  const module = await buildImageModule();
  const server = http.createServer((req, res) => {
    const jpeg = photo(req.url!);
    if (jpeg) res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    else if (req.url === '/image.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(module);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>pixels</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium();
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
  return {
    page,
    close: async () => {
      await browser.close();
      server.close();
    },
  };
}
