import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { openQueue, type RedisClients } from '../../src/queue/connection.js';
import { queueStatus } from '../../src/queue/status.js';
import { sharedDir } from '../../src/util/paths.js';
import { runCli } from '../helpers/cli.js';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.js';
import { sharedFlickr8k } from '../helpers/shared.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ENCODER = join(sharedDir(), 'models', 'mobilenetv2-12-int8.onnx');
const PHOTOS = 40;

function skipReason(): string | undefined {
  return (
    redisSkip() ??
    sharedFlickr8k().skip ??
    (existsSync(ENCODER) ? undefined : `the encoder is not in ${join(sharedDir(), 'models')}`)
  );
}

interface Worker {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

describe(
  'queue and workers from the command line (real model, private redis-server)',
  { skip: skipReason() },
  () => {
    let redis: TestRedis;
    let clients: RedisClients;
    let dir: string;
    let env: Record<string, string>;
    const workers: Worker[] = [];

    function startWorker(): Worker {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          MAIN,
          'worker',
          '--workers',
          '1',
          '--threads',
          '1',
          '--batch',
          '4',
          '--lock-seconds',
          '5',
        ],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d));
      const worker = {
        child,
        stderr: () => stderr,
        exited: new Promise<number | null>((resolve) => child.on('close', resolve)),
      };
      workers.push(worker);
      return worker;
    }

    const finished = async () => {
      const s = await queueStatus(clients);
      return s.completed + s.failed;
    };

    async function until(condition: () => Promise<boolean>, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (!(await condition())) {
        if (Date.now() > deadline)
          assert.fail(`not in time; workers said:\n${workers.map((w) => w.stderr()).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    before(async () => {
      redis = await startRedis();
      clients = await openQueue(redis.url);
      env = {
        CAPTIONER_REDIS_URL: redis.url,
        CAPTIONER_ASSET_PATH: join(sharedDir(), 'models'),
      };
      dir = await mkdtemp(join(tmpdir(), 'captioner-workers-'));
      const flickr = sharedFlickr8k().dir!;
      const names = readFileSync(join(flickr, 'Flickr_8k.testImages.txt'), 'utf8')
        .split('\n')
        .filter(Boolean);
      await mkdir(join(dir, 'photos'));
      // Links, not copies: the workers read the shared photos through them.
      for (const name of names.slice(0, PHOTOS))
        await symlink(join(flickr, 'Images', name), join(dir, 'photos', name));
      const bytes = await readFile(join(flickr, 'Images', names[PHOTOS]));
      await writeFile(join(dir, 'photos', 'broken.jpg'), bytes.subarray(0, bytes.length >> 1));
    });

    after(async () => {
      for (const { child } of workers) if (child.exitCode === null) child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));
      await clients?.close();
      await redis?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test('a worker killed with -9 mid-batch loses no photo and doubles none; SIGTERM stops the others cleanly', async () => {
      const add = await runCli(['queue', 'add', join(dir, 'photos')], env);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, new RegExp(`queued ${PHOTOS + 1} photos.*${PHOTOS + 1} new`));

      // One worker alone until it has captioned, then a second: the first is killed while it holds jobs.
      const doomed = startWorker();
      await until(async () => (await finished()) >= 1, 120_000);
      startWorker();
      await until(async () => (await finished()) >= 8, 120_000);
      const before = await queueStatus(clients);
      assert.ok(before.active > 0 && before.completed < PHOTOS, 'the kill comes mid-run, jobs in hand');
      doomed.child.kill('SIGKILL');
      assert.equal(await doomed.exited, null);
      startWorker();

      await until(async () => (await finished()) === PHOTOS + 1, 150_000);
      const status = await runCli(['queue', 'status', '--json'], env);
      assert.equal(status.code, 0, status.stderr);
      const final = JSON.parse(status.stdout) as Record<string, number>;
      assert.deepEqual([final.completed, final.failed, final.waiting, final.active], [PHOTOS, 1, 0, 0]);

      const out = join(dir, 'r.jsonl');
      const results = await runCli(['queue', 'results', '--out', out], env);
      assert.equal(results.code, 0, results.stderr);
      assert.match(results.stdout, new RegExp(`wrote ${PHOTOS} captions and 1 errors`));
      const lines = readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { image: string; caption?: string; error?: { code: string } });
      assert.equal(lines.length, PHOTOS + 1, 'each photo once');
      assert.equal(new Set(lines.map((l) => l.image)).size, PHOTOS + 1);
      for (const line of lines) {
        if (line.image.endsWith('broken.jpg')) assert.equal(line.error?.code, 'IMAGE_CORRUPT');
        else assert.ok(line.caption && line.caption.split(' ').length >= 3, JSON.stringify(line));
      }

      for (const worker of workers.slice(1)) worker.child.kill('SIGTERM');
      for (const worker of workers.slice(1)) {
        assert.equal(await worker.exited, 0, worker.stderr());
        assert.match(worker.stderr(), /SIGTERM: finishing the \d+ photos in hand[\s\S]*stopped/);
      }
    });
  },
);
