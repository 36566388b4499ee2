import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The page is plain TypeScript; `npm run build` writes it to web/dist, which the server serves at /.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Modern browsers only: no inline polyfill, so the page runs under a strict CSP (script-src 'self').
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
  server: {
    // `npx vite web` during development: the API comes from `npm start` on port 3000.
    proxy: { '/api': 'http://localhost:3000', '/healthz': 'http://localhost:3000' },
  },
});
