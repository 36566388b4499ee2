import { createHash } from 'node:crypto';
import { access, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempPathFor } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';
import { assetPath, cacheDir } from '../util/paths.js';
import { createProgress } from '../util/progress.js';
import type { AssetSpec } from './encoders.js';

/** Where downloaded models and labels go: <cache>/models. */
export function assetCacheDir(): string {
  return join(cacheDir(), 'models');
}

/** The folders searched for an asset, in order: CAPTIONER_ASSET_PATH, then the cache. */
export function assetSearchPath(): string[] {
  return [...assetPath(), assetCacheDir()];
}

/** The first copy of the asset on the search path, or undefined. */
export async function locateAsset(spec: AssetSpec): Promise<string | undefined> {
  for (const dir of assetSearchPath()) {
    const path = join(dir, spec.file);
    try {
      await access(path);
      return path;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export interface EnsureAssetOptions {
  /** Allowed unless CAPTIONER_OFFLINE=1. */
  download?: boolean;
  /** Progress bar on stderr (default: on a TTY). */
  progress?: boolean;
}

/** The asset's path: found on the search path, else downloaded into the cache (verified, atomic). */
export async function ensureAsset(spec: AssetSpec, options: EnsureAssetOptions = {}): Promise<string> {
  const found = await locateAsset(spec);
  if (found) return found;
  const download = options.download ?? process.env.CAPTIONER_OFFLINE !== '1';
  const errors: string[] = [];
  if (download) {
    for (const url of spec.urls) {
      try {
        return await downloadAsset(spec, url, options.progress);
      } catch (error) {
        errors.push(`${url}: ${(error as Error).message}`);
      }
    }
  }
  throw new CaptionerError('ASSET_MISSING', missingMessage(spec, download ? errors : ['downloads are off']));
}

function missingMessage(spec: AssetSpec, errors: string[]): string {
  const where = assetSearchPath().join(', ');
  const check = spec.sha256 ? ` (sha256 ${spec.sha256})` : '';
  const from = spec.urls.length ? `; get it from ${spec.urls[0]}` : '';
  const why = errors.length ? ` [download failed: ${errors.join('; ')}]` : '';
  return `${spec.what} not found: put ${spec.file}${check} in one of ${where} (or a folder listed in CAPTIONER_ASSET_PATH)${from}${why}`;
}

/** Downloads `url` into the cache, checking size and sha256 before it lands (temp file + rename). */
export async function downloadAsset(spec: AssetSpec, url: string, progress?: boolean): Promise<string> {
  const dir = assetCacheDir();
  await mkdir(dir, { recursive: true });
  const dest = join(dir, spec.file);
  const tmp = tempPathFor(dest);
  // Connect within 30 s; a slow but live transfer may take longer.
  const controller = new AbortController();
  const connectTimer = setTimeout(() => controller.abort(new Error('no answer within 30 s')), 30_000);
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', signal: controller.signal });
  } catch (error) {
    // fetch's own message is just "fetch failed"; the reason is in its cause.
    throw new Error(((error as Error).cause as Error)?.message ?? (error as Error).message, { cause: error });
  } finally {
    clearTimeout(connectTimer);
  }
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  const total = spec.bytes ?? (Number(response.headers.get('content-length')) || 0);
  const bar = createProgress({
    label: `downloading ${spec.file}`,
    total: Math.ceil(total / 1024),
    unit: 'KiB',
    enabled: progress ?? Boolean(process.stderr.isTTY),
  });
  const hash = createHash('sha256');
  const handle = await open(tmp, 'w');
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.byteLength;
      if (spec.bytes !== undefined && size > spec.bytes) throw new Error(`larger than ${spec.bytes} bytes`);
      await handle.write(chunk);
      bar.tick(chunk.byteLength / 1024);
    }
    await handle.sync();
    await handle.close();
    bar.stop();
    if (spec.bytes !== undefined && size !== spec.bytes)
      throw new Error(`got ${size} bytes, expected ${spec.bytes}`);
    const digest = hash.digest('hex');
    if (spec.sha256 && digest !== spec.sha256)
      throw new Error(`sha256 ${digest} does not match the expected ${spec.sha256}`);
    await rename(tmp, dest);
    return dest;
  } catch (error) {
    bar.stop();
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    throw error;
  }
}
