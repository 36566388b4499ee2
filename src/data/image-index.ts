import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { CaptionerError, errnoCode } from '../util/errors.js';

/** File names taken as photos in a caption file and in an image folder. */
export const IMAGE_NAME = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

/**
 * The photos under a folder, nested or not, by their path relative to it ('/'-separated): how the corpus
 * names an image, so that two `IMG_0001.jpg` of two trips stay two photos.
 */
export class ImageIndex {
  readonly dir: string;
  /** NFC form → the path as the file system spells it (macOS may write "é" as e + accent). */
  private readonly paths = new Map<string, string>();
  /** NFC file name → the paths of the photos of that name. */
  private readonly byName = new Map<string, string[]>();

  private constructor(dir: string, paths: string[]) {
    this.dir = dir;
    for (const path of paths) {
      this.paths.set(path.normalize('NFC'), path);
      const name = fileName(path).normalize('NFC');
      const same = this.byName.get(name);
      if (same) same.push(path);
      else this.byName.set(name, [path]);
    }
  }

  static async scan(dir: string): Promise<ImageIndex> {
    const paths: string[] = [];
    const seen = new Set<string>();
    const walk = async (folder: string, prefix: string): Promise<void> => {
      const real = await realpath(folder);
      if (seen.has(real)) return; // a symlink loop
      seen.add(real);
      let entries;
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        throw new CaptionerError(
          'DATA_MISSING',
          `cannot read the image folder ${folder}: ${errnoCode(error) ?? (error as Error).message}`,
          { cause: error },
        );
      }
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (e.name.startsWith('.')) continue;
        const path = join(folder, e.name);
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          const target = await stat(path).catch(() => undefined);
          isDir = target?.isDirectory() ?? false;
          isFile = target?.isFile() ?? false;
        }
        if (isDir) await walk(path, `${prefix}${e.name}/`);
        else if (isFile && IMAGE_NAME.test(e.name)) paths.push(`${prefix}${e.name}`);
      }
    };
    await walk(dir, '');
    return new ImageIndex(dir, paths);
  }

  get size(): number {
    return this.paths.size;
  }

  has(path: string): boolean {
    return this.paths.has(path.normalize('NFC'));
  }

  /**
   * The photo a caption file means by `reference` (a file name, a relative path, or an absolute path
   * under the folder): the exact path, else the longest tail of it that names a photo, else the one
   * photo whose path ends with it, else the one photo of that file name; missing, or ambiguous with the
   * photos it could be.
   */
  resolve(reference: string): { image: string } | { missing: true } | { ambiguous: string[] } {
    let path = normaliseImageReference(reference).normalize('NFC');
    if (isAbsolute(reference)) {
      const rel = relative(this.dir, reference);
      if (!rel.startsWith('..') && !isAbsolute(rel)) path = rel.split(sep).join('/').normalize('NFC');
    }
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const found = this.paths.get(parts.slice(i).join('/'));
      if (found !== undefined) return { image: found };
    }
    const same = this.byName.get(parts[parts.length - 1] ?? '') ?? [];
    // A path from a folder above ours or below it: the photos whose path ends with it, else its name.
    const below =
      parts.length > 1 ? same.filter((p) => p.normalize('NFC').endsWith(`/${parts.join('/')}`)) : same;
    const candidates = below.length > 0 ? below : same;
    if (candidates.length === 1) return { image: candidates[0] };
    if (candidates.length > 1) return { ambiguous: candidates };
    return { missing: true };
  }
}

/** A caption file's image reference as a corpus name: '/'-separated, without a leading "./". */
export function normaliseImageReference(reference: string): string {
  return reference
    .trim()
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '');
}

export function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
