import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assetCacheDir, ensureAsset } from '../../src/vision/assets.js';
import type { AssetSpec } from '../../src/vision/encoders.js';

const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
const sha256 = createHash('sha256').update(payload).digest('hex');

describe('assets: search path, download, verification', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let requests: string[] = [];
  const saved = { cache: process.env.CAPTIONER_CACHE, path: process.env.CAPTIONER_ASSET_PATH };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'captioner-assets-'));
    process.env.CAPTIONER_CACHE = join(dir, 'cache');
    process.env.CAPTIONER_ASSET_PATH = join(dir, 'readonly');
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/model.onnx') {
        res.writeHead(200, { 'content-length': payload.length });
        res.end(payload);
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/model.onnx' });
        res.end();
      } else if (req.url === '/tampered.onnx') {
        const bad = Buffer.from(payload);
        bad[1000] ^= 1;
        res.end(bad);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
    if (saved.cache === undefined) delete process.env.CAPTIONER_CACHE;
    else process.env.CAPTIONER_CACHE = saved.cache;
    if (saved.path === undefined) delete process.env.CAPTIONER_ASSET_PATH;
    else process.env.CAPTIONER_ASSET_PATH = saved.path;
  });

  const spec = (file: string, urls: string[]): AssetSpec => ({
    file,
    what: `test asset ${file}`,
    sha256,
    bytes: payload.length,
    urls: urls.map((u) => base + u),
  });

  it('downloads into the cache, following redirects and trying the next URL after a failure', async () => {
    requests = [];
    const path = await ensureAsset(spec('a.onnx', ['/missing', '/moved']), {
      download: true,
      progress: false,
    });
    assert.equal(path, join(assetCacheDir(), 'a.onnx'));
    assert.deepEqual(await readFile(path), payload);
    assert.deepEqual(requests, ['/missing', '/moved', '/model.onnx']);
    assert.deepEqual(await readdir(assetCacheDir()), ['a.onnx'], 'no temp file left behind');
    // Found in the cache the second time: no request.
    requests = [];
    assert.equal(await ensureAsset(spec('a.onnx', ['/model.onnx'])), path);
    assert.deepEqual(requests, []);
  });

  it('refuses a download whose sha256 does not match, and leaves nothing behind', async () => {
    await assert.rejects(
      ensureAsset(spec('b.onnx', ['/tampered.onnx']), { download: true, progress: false }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ASSET_MISSING');
        assert.match(error.message, /sha256 [0-9a-f]{64} does not match/);
        return true;
      },
    );
    assert.ok(!(await readdir(assetCacheDir())).some((f) => f.includes('b.onnx')));
  });

  it('offline, says which file is missing and where to put it', async () => {
    await assert.rejects(
      ensureAsset(spec('c.onnx', ['/model.onnx']), { download: false }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ASSET_MISSING');
        assert.match(
          error.message,
          /test asset c\.onnx not found: put c\.onnx \(sha256 [0-9a-f]{64}\) in one of /,
        );
        assert.ok(error.message.includes(assetCacheDir()));
        assert.ok(error.message.includes(join(dir, 'readonly')));
        assert.ok(error.message.includes(`${base}/model.onnx`));
        return true;
      },
    );
  });

  it('uses a copy on CAPTIONER_ASSET_PATH before the cache', async () => {
    await mkdir(join(dir, 'readonly'), { recursive: true });
    await writeFile(join(dir, 'readonly', 'a.onnx'), payload);
    requests = [];
    assert.equal(await ensureAsset(spec('a.onnx', ['/model.onnx'])), join(dir, 'readonly', 'a.onnx'));
    assert.deepEqual(requests, []);
  });
});
