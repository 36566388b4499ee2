import { cp, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultWebRoot } from '../serve/web-page.js';
import { CaptionerError } from '../util/errors.js';
import { onnxruntimeWebDist, ORT_FILES } from './ort-files.js';

const HEADERS = `# Cross-origin isolation, so that WebAssembly can use threads (Netlify and Cloudflare Pages read
# this file; elsewhere set the same two headers in the host's settings).
/*
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
`;

const HOSTING = `# captioner: the page, for any static host

This folder is a complete site: the captioner's web page, the model (\`model/\`: the bundle written by
\`captioner export\`) and onnxruntime-web (\`ort/\`). Every photo is captioned in the visitor's browser;
nothing is uploaded, and no server code runs. Copy the folder to any static host (GitHub Pages,
Netlify, Cloudflare Pages, S3, nginx, \`python3 -m http.server\`); it works from a sub-folder too.

- HTTPS (or localhost) is needed for the browser to keep the model between visits (Cache Storage).
- WebAssembly threads need the page to be cross-origin isolated: the host must send
  \`Cross-Origin-Opener-Policy: same-origin\` and \`Cross-Origin-Embedder-Policy: require-corp\`.
  \`_headers\` does that on Netlify and Cloudflare Pages; GitHub Pages cannot, and the page then runs
  on one thread (slower, same captions).
- \`.wasm\` files should be served as \`application/wasm\` (all common hosts do).
`;

/**
 * Writes the built web page (`webRoot`, default web/dist) into `out` with onnxruntime-web's files
 * (out/ort/<version>/) and the notes and headers a static host needs; returns the folder the model's
 * bundle goes in (out/model).
 */
export async function writeStaticPage(out: string, webRoot = defaultWebRoot()): Promise<string> {
  if (!existsSync(join(webRoot, 'index.html')))
    throw new CaptionerError(
      'PAGE_NOT_BUILT',
      `the web page is not built (${webRoot}): run npm run build first`,
    );
  const ort = onnxruntimeWebDist();
  if (!ort) throw new CaptionerError('ORT_MISSING', 'onnxruntime-web is not installed: run npm ci');
  await mkdir(out, { recursive: true });
  await cp(webRoot, out, { recursive: true });
  const ortDir = join(out, 'ort', ort.version);
  await mkdir(ortDir, { recursive: true });
  for (const file of ORT_FILES) await copyFile(join(ort.dir, file), join(ortDir, file));
  await writeFile(join(out, '_headers'), HEADERS);
  await writeFile(join(out, 'HOSTING.md'), HOSTING);
  return join(out, 'model');
}
