import { BUNDLE_FILES, type BundleConfig } from '../export/bundle-format.js';
import { CaptionerError } from '../util/errors.js';
import { browser, type CacheLike } from './dom.js';

/** Where loading is: fetching the model's files (from the network or the cache), then starting the runtime. */
export interface LoadProgress {
  phase: 'download' | 'start' | 'ready';
  /** Bytes of the model's files read so far, and in all (known from config.json). */
  loaded: number;
  total: number;
  /** True when every file came from the browser's cache (Cache Storage): nothing was downloaded. */
  fromCache: boolean;
}

export interface ModelFiles {
  config: BundleConfig;
  files: Map<string, Uint8Array>;
  fromCache: boolean;
}

/**
 * The bundle's config and graphs. Each file is kept in Cache Storage under its URL and sha256 (from
 * config.json), so a later visit reads it from there, a changed file is fetched again, and the old
 * copies are dropped. config.json itself is fetched each time (it is small), the cached copy serving
 * when the network is not there.
 */
export async function fetchModelFiles(
  baseUrl: string,
  options: {
    cacheName?: string | false;
    onProgress?: (progress: LoadProgress) => void;
    fetch?: typeof fetch;
    /** Extra files to download with the model on a first visit (counted in the progress), e.g. the runtime's wasm. */
    prefetch?: { url: string; bytes: number }[];
    /** Told, before anything is read or downloaded, whether the cache holds every file. */
    onCacheChecked?: (fromCache: boolean) => void;
  } = {},
): Promise<ModelFiles> {
  const get = options.fetch ?? fetch;
  const cache = await openCache(options.cacheName ?? 'captioner-model');
  const configUrl = new URL(BUNDLE_FILES.config, baseUrl).href;
  const config = await fetchConfig(get, configUrl, cache);
  const wanted = [...graphFiles(config), config.decoding.consensus?.file].filter(
    (f): f is string => f !== undefined,
  );
  const entries = wanted.map((name) => {
    const entry = config.files.find((f) => f.name === name);
    if (!entry) throw new CaptionerError('MODEL_INVALID', `config.json lists no file ${name}`);
    return { ...entry, url: new URL(name, baseUrl).href };
  });
  const keyOf = (e: { url: string; sha256: string }) => `${e.url}?sha256=${e.sha256}`;
  // The files are looked up and read all at once: one after the other, a second visit waited on each.
  const hits = new Map<string, Response>();
  if (cache)
    for (const [e, hit] of await Promise.all(
      entries.map(async (e) => [e, await cache.match(keyOf(e))] as const),
    ))
      if (hit) hits.set(e.name, hit);
  const fromCache = hits.size === entries.length;
  options.onCacheChecked?.(fromCache);
  const cached = new Map<string, Uint8Array>(
    await Promise.all(
      [...hits].map(async ([name, hit]) => [name, new Uint8Array(await hit.arrayBuffer())] as const),
    ),
  );
  const extra = fromCache ? [] : (options.prefetch ?? []);
  const total = entries.reduce((a, e) => a + e.bytes, 0) + extra.reduce((a, e) => a + e.bytes, 0);
  let loaded = [...cached.values()].reduce((a, b) => a + b.length, 0);
  const report = () => options.onProgress?.({ phase: 'download', loaded, total, fromCache });
  report();

  const files = new Map(cached);
  await Promise.all([
    ...entries
      .filter((e) => !cached.has(e.name))
      .map(async (e) => {
        const bytes = await download(get, e.url, (n) => {
          loaded += n;
          report();
        });
        const hash = await sha256Hex(bytes);
        if (bytes.length !== e.bytes || (hash !== undefined && hash !== e.sha256))
          throw new CaptionerError(
            'MODEL_INVALID',
            `${e.url} is not the file config.json describes (size or sha256)`,
          );
        files.set(e.name, bytes);
        await cache?.put(keyOf(e), new Response(bytes.slice().buffer)).catch(() => undefined);
      }),
    // Into the HTTP cache, so the runtime's own request for it is answered from there.
    ...extra.map((e) =>
      download(get, e.url, (n) => {
        loaded += n;
        report();
      }).catch(() => undefined),
    ),
  ]);
  if (cache) {
    // Drop what an older model left, in the background: the model is ready without waiting for it.
    const keep = new Set([configUrl, ...entries.map(keyOf)]);
    void (async () => {
      for (const request of await cache.keys()) if (!keep.has(request.url)) await cache.delete(request.url);
    })().catch(() => undefined);
  }
  return { config, files, fromCache };
}

/** The bundle's ONNX graphs (whose int8 weights are folded before their sessions open). */
export function graphFiles(config: BundleConfig): string[] {
  return [config.encoder.file, config.decoder.start?.file, config.decoder.step.file].filter(
    (f): f is string => f !== undefined,
  );
}

async function openCache(name: string | false): Promise<CacheLike | undefined> {
  if (name === false || !browser.caches) return undefined; // e.g. a page served over plain http
  try {
    return await browser.caches.open(name);
  } catch {
    return undefined;
  }
}

async function fetchConfig(
  get: typeof fetch,
  url: string,
  cache: CacheLike | undefined,
): Promise<BundleConfig> {
  let response: Response | undefined;
  try {
    response = await get(url, { cache: 'no-cache' } as RequestInit);
  } catch {
    response = undefined; // offline: the cached copy, if any
  }
  if (response?.ok) {
    const text = await response.text();
    // Kept for an offline visit; not waited for (a write to Cache Storage can take a while).
    void cache
      ?.put(url, new Response(text, { headers: { 'content-type': 'application/json' } }))
      .catch(() => undefined);
    return parseConfig(text, url);
  }
  const copy = await cache?.match(url);
  if (copy) return parseConfig(await copy.text(), url);
  throw new CaptionerError(
    'MODEL_NOT_FOUND',
    response ? `no model at ${url} (HTTP ${response.status})` : `cannot reach ${url} and no copy is cached`,
  );
}

function parseConfig(text: string, url: string): BundleConfig {
  try {
    return JSON.parse(text) as BundleConfig;
  } catch {
    throw new CaptionerError('MODEL_INVALID', `${url} is not JSON`);
  }
}

/** The body of `url`, reporting the bytes as they arrive. */
async function download(get: typeof fetch, url: string, onBytes: (n: number) => void): Promise<Uint8Array> {
  const response = await get(url);
  if (!response.ok || !response.body)
    throw new CaptionerError('MODEL_NOT_FOUND', `cannot download ${url} (HTTP ${response.status})`);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    onBytes(value.length);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

async function sha256Hex(bytes: Uint8Array): Promise<string | undefined> {
  const subtle = browser.crypto?.subtle;
  if (!subtle) return undefined; // no WebCrypto (plain http): the size check stands alone
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}
