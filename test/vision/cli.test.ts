import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DOG_PHOTOS, flickrImages, SKIP_NO_MODEL, sharedEncoderPath } from '../helpers/vision.js';

const run = promisify(execFile);
const modelPath = await sharedEncoderPath();
const cli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: process.env }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => e,
  );

describe('captioner classify / features', { skip: modelPath ? false : SKIP_NO_MODEL }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'captioner-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('classify names a dog for a dog photo', async () => {
    const { stdout, code } = await cli('classify', join(flickrImages(), DOG_PHOTOS[0]), '--json');
    assert.equal(code, 0);
    const { top } = JSON.parse(stdout);
    assert.equal(top.length, 5);
    assert.ok(top[0].index >= 151 && top[0].index <= 268, `top-1: ${top[0].label}`);
  });

  it('classify refuses a text file with a one-line error', async () => {
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'hello\n'.repeat(10));
    const { stderr, code } = await cli('classify', text);
    assert.equal(code, 1);
    assert.match(stderr, /^captioner: error: .*notes\.jpg: not an image/);
  });

  it('features reports and skips broken files', async () => {
    const images = join(dir, 'data', 'Images');
    await mkdir(images, { recursive: true });
    for (const p of DOG_PHOTOS) await symlink(join(flickrImages(), p), join(images, p));
    await writeFile(
      join(images, 'broken.jpg'),
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1, 1]),
    );
    const { stdout, code } = await cli(
      'features',
      '--data',
      join(dir, 'data'),
      '--out',
      join(dir, 'work'),
      '--json',
    );
    assert.equal(code, 0);
    const summary = JSON.parse(stdout);
    assert.equal(summary.computed, DOG_PHOTOS.length);
    assert.deepEqual(
      summary.skipped.map((s: { image: string; code: string }) => [s.image, s.code]),
      [['broken.jpg', 'IMAGE_CORRUPT']],
    );
    assert.equal(summary.encoder.pooledDim, 1280);
  });
});
