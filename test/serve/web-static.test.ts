import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildServer } from '../../src/serve/server.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { runCli } from '../helpers/cli.js';

describe('the page and the serve command (double captioner)', () => {
  test('/ serves the built page with a strict CSP; hashed assets are cached for good', async () => {
    const root = await mkdtemp(join(tmpdir(), 'captioner-webroot-'));
    await mkdir(join(root, 'assets'));
    await writeFile(join(root, 'index.html'), '<!doctype html><title>page</title>');
    await writeFile(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
    const app = buildServer({ captioner: new DoubleCaptioner(), webRoot: root });
    const page = await app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<title>page/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const asset = await app.inject({ url: '/assets/index-abc123.js' });
    assert.match(String(asset.headers['cache-control']), /immutable/);
    const missing = await app.inject({ url: '/assets/nope.js' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'NOT_FOUND');
    await app.close();
  });

  test('an unbuilt page says how to build it; the API still works', async () => {
    const app = buildServer({
      captioner: new DoubleCaptioner(),
      webRoot: join(tmpdir(), 'no-such-web-root'),
    });
    const page = await app.inject({ url: '/' });
    assert.equal(page.statusCode, 503);
    assert.match(page.body, /npm run build/);
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    await app.close();
  });

  test('captioner serve: documented options; a bad PORT is refused before loading the model', async () => {
    const help = await runCli(['serve', '--help']);
    assert.equal(help.code, 0);
    for (const option of [
      '--port',
      '--host',
      '--model',
      '--encoder',
      '--max-upload-mb',
      '--concurrency',
      '--queue',
    ]) {
      assert.ok(help.stdout.includes(option), option);
    }
    const bad = await runCli(['serve'], { PORT: 'eighty' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /PORT must be a port number/);
    assert.doesNotMatch(bad.stderr, /loading the model/);
  });
});
