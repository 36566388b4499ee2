import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { isCaptionerError } from '../../src/util/errors.js';
import { sharedDir } from '../../src/util/paths.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The bundled model's folder. */
export const DEFAULT_MODEL = join(ROOT, 'models/default');

/**
 * The real captioner (bundled model + encoder), or the reason it cannot be had here: the model not
 * trained yet, or an asset missing (a CaptionerError). Other errors are bugs and fail the test.
 */
export async function loadRealCaptioner(): Promise<{ captioner?: Captioner; skip?: string }> {
  if (!existsSync(DEFAULT_MODEL)) {
    return { skip: 'real captioner: the bundled model (models/default) is not there' };
  }
  // Where the developers' machines and CI keep the encoder, unless told otherwise.
  process.env.CAPTIONER_ASSET_PATH ??= join(sharedDir(), 'models');
  try {
    return { captioner: await loadCaptioner() };
  } catch (error) {
    if (isCaptionerError(error)) return { skip: `real captioner could not load: ${error.message}` };
    throw error;
  }
}

/** A Flickr8k test-split photo from ../shared, or undefined when the data set is not there. */
export function flickrPhoto(index = 0): string | undefined {
  const dir = join(sharedDir(), 'flickr8k');
  const list = join(dir, 'Flickr_8k.testImages.txt');
  if (!existsSync(list)) return undefined;
  const names = readFileSync(list, 'utf8').split('\n').filter(Boolean);
  const path = join(dir, 'Images', names[index % names.length]);
  return existsSync(path) ? path : undefined;
}
