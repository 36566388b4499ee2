import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** web/dist of the package: two levels up from both src/serve/ and dist/serve/. */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../web/dist/', import.meta.url));
}

// The page needs nothing from elsewhere; photos are shown from blob: URLs.
const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>captioner</title>
<p>The web page is not built. Run <code>npm run build</code>, then restart the server.
The API works: <code>POST /api/caption</code>.</p></html>`;

/** Serves the built page at / (Vite's hashed assets cached for good, index.html revalidated). */
export function registerWebPage(app: FastifyInstance, webRoot: string | null): void {
  if (webRoot === null) return;
  if (!existsSync(join(webRoot, 'index.html'))) {
    app.get('/', async (_request, reply) => reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT));
    return;
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
}
