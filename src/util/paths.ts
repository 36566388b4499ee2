import { homedir } from 'node:os';
import { join, resolve, delimiter } from 'node:path';

/** Where the Flickr8k data and the encoder live on the developers' machines (tests, benchmarks). */
export function sharedDir(): string {
  return resolve(process.env.CAPTIONER_SHARED ?? '../shared');
}

/** The writable asset cache: CAPTIONER_CACHE, else ~/.cache/captioner. */
export function cacheDir(): string {
  return resolve(process.env.CAPTIONER_CACHE ?? join(homedir(), '.cache', 'captioner'));
}

/** Read-only folders searched for assets before the cache (CAPTIONER_ASSET_PATH, colon-separated). */
export function assetPath(): string[] {
  return (process.env.CAPTIONER_ASSET_PATH ?? '')
    .split(delimiter)
    .filter((p) => p.length > 0)
    .map((p) => resolve(p));
}
