import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle, BuildBundleOptions } from '../export/bundle.js';
import { onnxruntimeWebDist, ORT_FILES } from '../export/ort-files.js';

/** web/dist of the package: two levels up from both src/serve/ and dist/serve/. */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../web/dist/', import.meta.url));
}

// The page needs nothing from elsewhere; photos are shown from blob: URLs. WebAssembly (the on-device
// captioner) needs 'wasm-unsafe-eval'; onnxruntime-web's threads are workers of its own script.
const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>captioner</title>
<p>The web page is not built. Run <code>npm run build</code>, then restart the server.
The API works: <code>POST /api/caption</code>.</p></html>`;

/** Where the page finds the model's bundle and onnxruntime-web's files (relative to the page). */
export const MODEL_PATH = '/model/';
export const ORT_PATH = '/ort/';

export interface WebPageOptions {
  /** The model whose bundle the page captions with on the device (default: the bundled model); null: none. */
  bundle?: BuildBundleOptions | null;
  /**
   * Build the bundle as soon as the server listens (`captioner serve` does), so that the page's first
   * visitor after a start does not wait for it (~1.5 s); default: on its first request.
   */
  buildBundleAtStart?: boolean;
}

/** The on-device bundle, as /healthz tells it: none served, not asked for yet, building, ready, or failed. */
export type BundleState = 'none' | 'idle' | 'building' | 'ready' | 'failed';

export interface WebPage {
  bundleState(): BundleState;
}

/**
 * Serves the built page at / (Vite's hashed assets cached for good, index.html revalidated), the
 * bundle of the model at /model/ (built in memory on first request), onnxruntime-web's wasm files at
 * /ort/<version>/, and, on every response, the cross-origin isolation headers (COOP/COEP) that let
 * WebAssembly use threads.
 */
export function registerWebPage(
  app: FastifyInstance,
  webRoot: string | null,
  options: WebPageOptions = {},
): WebPage {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-embedder-policy', 'require-corp');
    reply.header('cross-origin-resource-policy', 'same-origin');
    return payload;
  });
  const bundle =
    options.bundle === null
      ? undefined
      : registerBundle(app, options.bundle ?? {}, options.buildBundleAtStart === true);
  registerOrt(app);
  const page: WebPage = { bundleState: () => bundle?.state() ?? 'none' };
  if (webRoot === null) return page;
  if (!existsSync(join(webRoot, 'index.html'))) {
    app.get('/', async (_request, reply) => reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT));
    return page;
  }
  app.register(fastifyStatic, {
    root: webRoot,
    prefix: '/',
    index: 'index.html',
    cacheControl: false,
    setHeaders(res, path) {
      const hashed = path.includes(`${join('/', 'assets', '/')}`);
      res.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (path.endsWith('.html')) res.setHeader('content-security-policy', CSP);
    },
  });
  return page;
}

const TYPES: Record<string, string> = {
  '.json': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.onnx': 'application/octet-stream',
};

/** /model/<file>: the bundle `captioner export` would write, built once (at start, or on first request). */
function registerBundle(
  app: FastifyInstance,
  source: BuildBundleOptions,
  atStart: boolean,
): { state(): BundleState } {
  let building: Promise<Bundle> | undefined;
  let state: BundleState = 'idle';
  const bundle = () => {
    if (!building) {
      state = 'building';
      building = import('../export/bundle.js').then(({ buildBundle }) =>
        buildBundle({ ...source, download: false }),
      );
      building.then(
        () => (state = 'ready'),
        () => (state = 'failed'),
      );
    }
    return building;
  };
  // Not awaited: the server answers while it builds (the first /model/ request then waits for it).
  if (atStart) app.addHook('onListen', async () => void bundle().catch(() => undefined));
  app.get<{ Params: { file: string } }>(`${MODEL_PATH}:file`, async (request, reply) => {
    let built: Bundle;
    try {
      built = await bundle();
    } catch (error) {
      // No encoder here (offline, not downloaded yet): the page captions on the server instead.
      return reply.code(404).send({
        error: { code: 'NO_BUNDLE', message: `No on-device model here: ${(error as Error).message}` },
      });
    }
    const { file } = request.params;
    const bytes = built.files.get(file);
    if (!bytes) return notFound(reply, request.url);
    const entry = built.config.files.find((f) => f.name === file);
    const etag = entry ? `"${entry.sha256}"` : undefined;
    reply.header('cache-control', 'no-cache');
    if (etag) {
      reply.header('etag', etag);
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    }
    return reply
      .type(TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream')
      .send(Buffer.from(bytes));
  });
  return { state: () => state };
}

/** /ort/<version>/<file>: onnxruntime-web's wasm and its loader, from the installed package. */
function registerOrt(app: FastifyInstance): void {
  let dist: ReturnType<typeof onnxruntimeWebDist> | null = null;
  app.get<{ Params: { version: string; file: string } }>(
    `${ORT_PATH}:version/:file`,
    async (request, reply) => {
      dist ??= onnxruntimeWebDist();
      const { version, file } = request.params;
      if (!dist || version !== dist.version || !(ORT_FILES as readonly string[]).includes(file))
        return notFound(reply, request.url);
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      reply.type(file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8');
      return reply.send(createReadStream(join(dist.dir, file)));
    },
  );
}

function notFound(reply: FastifyReply, url: string) {
  return reply
    .code(404)
    .send({ error: { code: 'NOT_FOUND', message: `There is nothing at GET ${url.split('?')[0]}.` } });
}
