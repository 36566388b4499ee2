import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { CaptionerError, errnoCode } from '../util/errors.js';
import { IMAGE_EXTENSIONS } from '../vision/compute-features.js';

/**
 * Expands the command line's files and folders into image paths. A file named on the command line is
 * always tried (its bytes decide whether it is an image); in folders, walked recursively, only files
 * with an image extension are taken, so a stray README does not count as a failure.
 */
export async function expandImagePaths(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    const path = resolve(arg);
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT')
        throw new CaptionerError('FILE_NOT_FOUND', `no such file or folder: ${arg}`);
      throw error;
    }
    if (info.isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await walk(path)));
    else if (IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) files.push(path);
  }
  return files;
}
