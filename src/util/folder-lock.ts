import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CaptionerError, errnoCode } from './errors.js';

export const LOCK_FILE = '.lock';

/**
 * Takes a folder for one writing job (feature extraction, a training run): two jobs appending to the
 * same files would corrupt them. The lock is a file holding the owner's pid; a lock left by a process
 * that is gone (a crash) is taken over. Resolves to the function that releases it.
 */
export async function lockFolder(dir: string, job: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(path, { force: true });
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released meanwhile
    const owner = Number(text.trim());
    // An empty file is a lock being written this instant: in use, like a live owner.
    if (!text.trim() || (Number.isInteger(owner) && owner > 0 && running(owner)))
      throw new CaptionerError(
        'FOLDER_LOCKED',
        `${dir} is in use by another ${job}${owner ? ` (pid ${owner})` : ''}: wait for it to end, or delete ${path} if no such job is running`,
      );
    await rm(path, { force: true });
  }
  throw new CaptionerError('FOLDER_LOCKED', `cannot take ${path}: other processes keep creating it`);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}
