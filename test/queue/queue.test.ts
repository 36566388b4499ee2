import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { addPhotos, photoSources } from '../../src/queue/add.js';
import { openQueue, redisUrl, type RedisClients } from '../../src/queue/connection.js';
import { parseFailureReason, photoJobId, photoName, type ResultLine } from '../../src/queue/jobs.js';
import { exportResults } from '../../src/queue/results.js';
import { queueStatus } from '../../src/queue/status.js';
import { startCaptionWorker, type CaptionWorker } from '../../src/queue/worker.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg, truncate } from '../helpers/images.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail('condition never became true');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readLines(path: string): ResultLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ResultLine);
}

const finished = async (clients: RedisClients) => {
  const s = await queueStatus(clients);
  return s.completed + s.failed;
};

describe('photo queue (double captioner, private redis-server)', { skip: redisSkip() }, () => {
  let redis: TestRedis;
  let clients: RedisClients;
  let dir: string;
  let photos: string[];
  let web: Server;
  let webUrl: string;
  let slowHits = 0;

  before(async () => {
    redis = await startRedis();
    clients = await openQueue(redis.url);
    dir = await mkdtemp(join(tmpdir(), 'captioner-queue-'));
    await mkdir(join(dir, 'photos'));
    photos = [];
    for (let i = 0; i < 6; i++) {
      const path = join(dir, 'photos', `p${i}.jpg`);
      await writeFile(path, await makeJpeg(40 + i, 30, [40 * i, 100, 200 - 30 * i]));
      photos.push(path);
    }
    await writeFile(join(dir, 'photos', 'broken.jpg'), truncate(await makeJpeg(64, 48)));
    const jpeg = await makeJpeg(50, 50);
    web = createServer((request, response) => {
      if (request.url === '/ok.jpg') response.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
      else if (request.url === '/slow.jpg') {
        // The first try times out; the retry gets the photo.
        if (slowHits++ === 0) setTimeout(() => response.writeHead(200).end(jpeg), 1_500);
        else response.writeHead(200).end(jpeg);
      } else if (request.url === '/page.jpg') response.writeHead(200).end('<html>not a photo</html>');
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
  });

  after(async () => {
    web?.closeAllConnections();
    web?.close();
    await clients?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await clients.redis.flushall();
  });

  test('the Redis URL comes from --redis or CAPTIONER_REDIS_URL; an unreachable Redis is an error, soon', async () => {
    assert.equal(redisUrl('redis://a:1', {}), 'redis://a:1');
    assert.equal(redisUrl(undefined, { CAPTIONER_REDIS_URL: 'redis://b:2' }), 'redis://b:2');
    assert.throws(() => redisUrl(undefined, {}), { code: 'NO_REDIS' });
    assert.throws(() => redisUrl('localhost:6379', {}), { code: 'BAD_CONFIG' });
    const started = Date.now();
    await assert.rejects(openQueue('redis://127.0.0.1:1'), { code: 'REDIS_UNREACHABLE' });
    assert.ok(Date.now() - started < 5_000);
  });

  test('add: one job per photo from folders, list files and URLs; the same photo twice is one job', async () => {
    const list = join(dir, 'list.txt');
    await writeFile(list, `# photos\n${photos[0]}\n\n${webUrl}/ok.jpg\n${photos[1]}\n`);
    const sources = await photoSources([join(dir, 'photos'), list, `${webUrl}/ok.jpg`]);
    assert.equal(sources.count, 7 + 3 + 1);
    const first = await addPhotos(clients, sources.names(), { chunkSize: 4 });
    // The list repeats two photos of the folder and the URL is there twice.
    assert.deepEqual(first, { photos: 11, added: 8, alreadyQueued: 3 });
    const again = await addPhotos(clients, (await photoSources([join(dir, 'photos')])).names());
    assert.deepEqual(again, { photos: 7, added: 0, alreadyQueued: 7 });
    assert.equal((await queueStatus(clients)).waiting, 8);
    // Stable ids: a relative path names the same photo as its absolute path.
    assert.equal(photoJobId(photoName(join('.', 'x.jpg'))), photoJobId(join(process.cwd(), 'x.jpg')));
    assert.match(photoJobId('a'), /^p[0-9a-f]{32}$/);
    assert.deepEqual(parseFailureReason('IMAGE_CORRUPT: x.jpg: cut short'), {
      code: 'IMAGE_CORRUPT',
      message: 'x.jpg: cut short',
    });
  });

  test('worker: batches, fails bad photos at once, retries a timed-out download; results once each, resumable; --clean', async () => {
    const captioner = new DoubleCaptioner();
    const urls = ['ok', 'slow', 'missing', 'page'].map((name) => `${webUrl}/${name}.jpg`);
    await addPhotos(clients, [...photos, join(dir, 'photos', 'broken.jpg'), ...urls], {
      retry: { attempts: 3, backoffMs: 100 },
    });
    const worker = await startCaptionWorker({
      redis: redis.url,
      captioner,
      batchSize: 4,
      photoLimits: { maxBytes: 1_000_000, maxPixels: 1_000_000, timeoutMs: 500 },
    });
    try {
      await until(async () => (await finished(clients)) === 11);
      const status = await queueStatus(clients);
      assert.equal(status.completed, 8);
      assert.equal(status.failed, 3);
      for (const key of ['waiting', 'active', 'completed', 'failed', 'ratePerSecond'])
        assert.ok(key in status, key);
      assert.ok(
        captioner.batches.some((n) => n > 1),
        `photos waiting together go as one batch: ${captioner.batches}`,
      );
      assert.deepEqual(worker.counts, { completed: 8, failed: 3, retrying: 1 });
      const job = (image: string) => clients.queue.getJob(photoJobId(photoName(image)));
      assert.equal((await job(`${webUrl}/slow.jpg`))!.attemptsMade, 2, 'retried after the timeout');
      for (const bad of [join(dir, 'photos', 'broken.jpg'), `${webUrl}/missing.jpg`, `${webUrl}/page.jpg`])
        assert.equal((await job(bad))!.attemptsMade, 1, `${bad} failed at once`);

      const out = join(dir, 'results.jsonl');
      assert.deepEqual(await exportResults(clients, { out, chunkSize: 3 }), {
        captions: 8,
        errors: 3,
        removed: 0,
        leftForLater: 0,
      });
      const lines = readLines(out);
      assert.equal(lines.length, 11);
      assert.equal(new Set(lines.map((l) => l.image)).size, 11);
      const byImage = new Map(lines.map((l) => [l.image, l]));
      const good = byImage.get(photos[0])!;
      assert.ok('caption' in good && good.caption.length > 0);
      assert.deepEqual(Object.keys(good).sort(), ['alternatives', 'caption', 'image', 'model']);
      assert.equal(good.model, captioner.card.name);
      const errorOf = (image: string) => (byImage.get(image) as { error: { code: string } }).error.code;
      assert.equal(errorOf(join(dir, 'photos', 'broken.jpg')), 'IMAGE_CORRUPT');
      assert.equal(errorOf(`${webUrl}/missing.jpg`), 'PHOTO_NOT_FOUND');
      assert.equal(errorOf(`${webUrl}/page.jpg`), 'IMAGE_UNSUPPORTED');

      // A run cut short after writing lines it did not commit: they are cut off, nothing is doubled.
      appendFileSync(out, '{"image":"half a line');
      assert.equal((await exportResults(clients, { out })).captions, 0);
      assert.equal(readLines(out).length, 11);
      // Photos finished later are appended by the next run.
      const extra = join(dir, 'photos', 'extra.jpg');
      await writeFile(extra, await makeJpeg(20, 20));
      await addPhotos(clients, [extra]);
      await until(async () => (await finished(clients)) === 12);
      assert.equal((await exportResults(clients, { out })).captions, 1);
      assert.deepEqual(
        readLines(out)
          .map((l) => l.image)
          .filter((image) => image === extra),
        [extra],
      );
      // A file the exporter did not write is not appended to.
      const foreign = join(dir, 'foreign.jsonl');
      writeFileSync(foreign, '{}\n');
      await assert.rejects(exportResults(clients, { out: foreign }), { code: 'OUTPUT_EXISTS' });

      // --clean: the exported jobs leave Redis (a fresh export elsewhere finds them gone).
      const summary = await exportResults(clients, { out, clean: true });
      assert.equal(summary.removed, 12);
      assert.equal(await finished(clients), 0);
      assert.equal(readLines(out).length, 12);
    } finally {
      await worker.close();
    }
  });

  test('while workers are busy, the last seconds of finished jobs wait for the next export', async () => {
    const captioner = new DoubleCaptioner();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The first photo is held in the worker (active); the others finish now.
    let calls = 0;
    captioner.gate = () => (calls++ === 0 ? held : Promise.resolve());
    await addPhotos(clients, photos.slice(0, 3));
    const worker = await startCaptionWorker({ redis: redis.url, captioner, batchSize: 1, concurrency: 2 });
    try {
      await until(async () => (await finished(clients)) === 2);
      const out = join(dir, 'busy.jsonl');
      const early = await exportResults(clients, { out });
      assert.equal(early.captions, 0);
      assert.equal(early.leftForLater, 2);
      release();
      await until(async () => (await finished(clients)) === 3);
      assert.equal((await exportResults(clients, { out })).captions, 3, 'all, once nothing is active');
      assert.equal(readLines(out).length, 3);
    } finally {
      release();
      await worker.close();
    }
  });

  test('a worker survives a Redis restart and goes on with the jobs added after it', async () => {
    const lines: string[] = [];
    let worker: CaptionWorker | undefined;
    try {
      worker = await startCaptionWorker({
        redis: redis.url,
        captioner: new DoubleCaptioner(),
        log: (line) => lines.push(line),
      });
      await addPhotos(clients, photos.slice(0, 2));
      await until(async () => (await finished(clients)) === 2);
      await redis.restart();
      await until(() => lines.some((line) => /reconnecting/.test(line)));
      await until(() => lines.some((line) => /connected again/.test(line)));
      await addPhotos(clients, photos.slice(2, 5));
      await until(async () => (await finished(clients)) === 3);
      assert.equal(worker.counts.completed, 5);
    } finally {
      await worker?.close();
    }
  });
});
