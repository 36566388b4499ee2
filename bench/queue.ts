// npm run bench:queue [-- --json] [--rounds 3] [--photos 1000] [--batch 16] [--lock-seconds 30] [--skip-kill] [--model dir]
// The BullMQ queue end to end, on a private redis-server (no persistence) and Flickr8k test photos:
// 1. photos/s with 1 worker process of one captioner thread (--workers 1 --threads 1), then with 2 such
//    processes, then with 1 process of one captioner with 2 onnxruntime threads (--threads 2), then with
//    1 process of 2 captioner threads (--workers 2, the default on 2 cores) (the workers are loaded and idle before the photos are added: model
//    loading is not counted); the rate is the steady one, from 10% to 90% of the photos done, and the
//    whole run's is printed beside it; 1 and 2 workers in --rounds pairs (order alternating), the
//    median round's figures shown;
// 2. a worker killed with `kill -9` a few seconds into a run, a third started in its place: the
//    results export must hold every photo exactly once (lost and duplicated are counted);
// 3. Redis memory per waiting job (10,000 added) and per finished job (with its caption).
// Run it under `flock /tmp/captioner-bench.lock` on a shared machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addPhotos } from '../src/queue/add.js';
import { openQueue, type RedisClients } from '../src/queue/connection.js';
import { exportResults } from '../src/queue/results.js';
import { queueStatus } from '../src/queue/status.js';
import { sharedDir } from '../src/util/paths.js';
import { pairedRounds } from './paired-rounds.js';
import { failWith, testPhotos } from './test-photos.js';
import { startRedis } from '../test/helpers/redis.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    // 1,000 (all the test photos): with 400, the start and the last batches weighed on the 2-worker rate.
    photos: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '16' },
    'lock-seconds': { type: 'string', default: '30' },
    model: { type: 'string' },
    'skip-kill': { type: 'boolean', default: false },
    // This machine's speed drifts within a minute (seen here: one worker's photos per CPU-second 45 in
    // one round, 55 in the next), so 1 and 2 workers are measured in several rounds, each a pair.
    rounds: { type: 'string', default: '3' },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

const fail = failWith('bench:queue');

interface WorkerProcess {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

function startWorker(url: string, threads = 1, captioners = 1): WorkerProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      'worker',
      '--workers',
      String(captioners),
      '--threads',
      String(threads),
      '--batch',
      args.batch!,
      '--lock-seconds',
      args['lock-seconds']!,
      ...(args.model ? ['--model', args.model] : []),
    ],
    {
      env: { ...process.env, CAPTIONER_REDIS_URL: url },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
      if (/working for/.test(stderr)) resolve();
    });
    child.on('close', (code) => reject(new Error(`worker exited ${code}: ${stderr}`)));
  });
  ready.catch(() => {});
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, ready, exited };
}

/** CPU time (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function stopAll(workers: WorkerProcess[]): Promise<void> {
  for (const { child } of workers) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

/** Photos done: two counts only (polled every 50 ms, so it must not take CPU from the workers). */
async function finished({ queue }: RedisClients): Promise<number> {
  const counts = await queue.getJobCounts('completed', 'failed');
  return counts.completed + counts.failed;
}

async function untilFinished(clients: RedisClients, count: number): Promise<void> {
  while ((await finished(clients)) < count) await new Promise((r) => setTimeout(r, 100));
}

type Rate = Awaited<ReturnType<typeof measureRate>>;

/**
 * Photos per second of `processes` workers: over the whole run (from the add to the last photo
 * done), and in the steady state, from the moment 10% of the photos are done to the moment 90% are.
 * The steady rate is the one a long queue (millions of photos) gets: the whole-run rate of several
 * workers also counts the end, where one worker finishes its last batches while the others have
 * nothing left to take (each holds up to two batches), which a run of 1,000 photos feels (~0.5–1 s of ~14).
 */
async function measureRate(
  url: string,
  clients: RedisClients,
  files: string[],
  processes: number,
  threads = 1,
  captioners = 1,
) {
  await clients.redis.flushall();
  const workers = Array.from({ length: processes }, () => startWorker(url, threads, captioners));
  try {
    await Promise.all(workers.map((w) => w.ready));
    const cpu = () => workers.reduce((sum, w) => sum + cpuSeconds(w.child.pid!), 0);
    const cpuBefore = cpu();
    const started = performance.now();
    await addPhotos(clients, files);
    // Polled every 50 ms: the steady window is ~10 s, so its ends are known to within 1%.
    const marks: { done: number; at: number; cpu: number }[] = [];
    for (const fraction of [0.1, 0.9, 1]) {
      const target = Math.ceil(files.length * fraction);
      let done: number;
      while ((done = await finished(clients)) < target) await new Promise((r) => setTimeout(r, 50));
      marks.push({ done, at: performance.now(), cpu: cpu() });
    }
    const [low, high, end] = marks;
    const seconds = (end.at - started) / 1000;
    const cpuUsed = end.cpu - cpuBefore;
    const steadySeconds = (high.at - low.at) / 1000;
    const steadyCpu = high.cpu - low.cpu;
    return {
      seconds,
      photosPerSecond: files.length / seconds,
      steadyPhotosPerSecond: (high.done - low.done) / steadySeconds,
      // Cores the workers got in the steady state: below their number, the machine was busy with other work.
      cores: steadyCpu / steadySeconds,
      photosPerCpuSecond: files.length / cpuUsed,
    };
  } finally {
    await stopAll(workers);
  }
}

/**
 * Redis memory a finished job holds: its hash (photo, options, result) and its entry in the completed
 * set, from MEMORY USAGE (the events stream is capped at 10,000 entries whatever the job count).
 */
async function redisBytesPerJob({ redis, queue }: RedisClients): Promise<number> {
  const ids = await redis.zrange(queue.keys.completed, 0, '-1');
  const hashes = await Promise.all(ids.map((id) => redis.memory('USAGE', queue.toKey(id), 'SAMPLES', '0')));
  const set = (await redis.memory('USAGE', queue.keys.completed, 'SAMPLES', '0')) ?? 0;
  return (hashes.reduce<number>((sum, n) => sum + (n ?? 0), 0) + set) / ids.length;
}

/** Redis memory a waiting job holds: 10,000 jobs added (no worker running), used_memory before and after. */
async function redisBytesPerWaitingJob(clients: RedisClients): Promise<number> {
  await clients.redis.flushall();
  const used = async () => Number(/used_memory:(\d+)/.exec(await clients.redis.info('memory'))![1]);
  const before = await used();
  const count = 10_000;
  const names = Array.from(
    { length: count },
    (_, i) => `/photos/library/2019/07/IMG_${String(i).padStart(6, '0')}.jpg`,
  );
  await addPhotos(clients, names);
  const bytes = (await used()) - before;
  await clients.redis.flushall();
  return bytes / count;
}

/** Two workers, one killed with -9 a few seconds in and replaced: every photo exported once? */
async function measureKill(url: string, clients: RedisClients, files: string[]) {
  await clients.redis.flushall();
  const workers = [startWorker(url), startWorker(url)];
  const out = join(mkdtempSync(join(tmpdir(), 'captioner-bench-queue-')), 'results.jsonl');
  try {
    await Promise.all(workers.map((w) => w.ready));
    const started = performance.now();
    await addPhotos(clients, files);
    await new Promise((r) => setTimeout(r, 4_000));
    const atKill = await queueStatus(clients);
    workers[0].child.kill('SIGKILL');
    await workers[0].exited;
    const killedAt = performance.now();
    const replacement = startWorker(url);
    workers.push(replacement);
    await untilFinished(clients, files.length);
    const seconds = (performance.now() - started) / 1000;
    await exportResults(clients, { out });
    const images = readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { image: string }).image);
    const unique = new Set(images);
    const expected = new Set(files);
    return {
      seconds,
      inHandAtKill: atKill.active,
      doneAtKill: atKill.completed + atKill.failed,
      afterKillSeconds: (performance.now() - killedAt) / 1000,
      lost: [...expected].filter((f) => !unique.has(f)).length,
      duplicated: images.length - unique.size,
      lines: images.length,
    };
  } finally {
    await stopAll(workers);
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
}

const files = testPhotos(Number(args.photos), fail);
process.env.CAPTIONER_ASSET_PATH ??= join(sharedDir(), 'models');
log('starting a private redis-server…');
const redis = await startRedis();
const clients = await openQueue(redis.url);
try {
  const rounds = Math.max(1, Number(args.rounds));
  const { rounds: pairs, median } = await pairedRounds(
    rounds,
    (setting, round) => {
      const processes = setting === 'base' ? 1 : 2;
      log(
        `round ${round}/${rounds}: ${processes} worker process${processes > 1 ? 'es' : ''} (--workers 1 --threads 1, batches of ${args.batch}), ${files.length} photos…`,
      );
      return measureRate(redis.url, clients, files, processes);
    },
    (one, two) => two.steadyPhotosPerSecond / one.steadyPhotosPerSecond,
  );
  // The round of the median speed-up gives every figure of the table.
  const { base: one, other: two, ratio: speedup } = median;
  const bytesPerJob = await redisBytesPerJob(clients);
  log(`1 worker process with 2 threads…`);
  const twoThreads = await measureRate(redis.url, clients, files, 1, 2);
  log(`1 worker process with 2 captioner threads (--workers 2)…`);
  const twoCaptioners = await measureRate(redis.url, clients, files, 1, 1, 2);
  const bytesPerWaitingJob = await redisBytesPerWaitingJob(clients);
  let kill: Awaited<ReturnType<typeof measureKill>> | undefined;
  if (!args['skip-kill']) {
    log(`2 workers, one killed with -9 after 4 s and replaced (locks of ${args['lock-seconds']} s)…`);
    kill = await measureKill(redis.url, clients, files);
  }

  const rate = (r: Rate) =>
    `${r.steadyPhotosPerSecond.toFixed(1)} photos/s (whole run ${r.photosPerSecond.toFixed(1)})`;
  const cpu = (r: Rate) =>
    `on ${r.cores.toFixed(2)} cores: ${r.photosPerCpuSecond.toFixed(1)} photos per CPU-second`;
  const rows: [string, string, string][] = [
    ['1 worker, 1 thread', rate(one), cpu(one)],
    ['2 workers, 1 thread each', rate(two), cpu(two)],
    [
      'speed-up of the second worker',
      `${speedup.toFixed(2)}×`,
      `≥ 1.7× on 2 idle cores (whole run ${(two.photosPerSecond / one.photosPerSecond).toFixed(2)}×)`,
    ],
    [
      `speed-ups of the ${pairs.length} rounds`,
      pairs.map((p) => `${p.ratio.toFixed(2)}×`).join(' '),
      'the median round is shown above',
    ],
    ['1 worker, 2 threads', rate(twoThreads), cpu(twoThreads)],
    ['1 worker, 2 captioner threads', rate(twoCaptioners), cpu(twoCaptioners)],
  ];
  if (kill)
    rows.push(
      ['kill -9: jobs in hand / done at the kill', `${kill.inHandAtKill} / ${kill.doneAtKill}`, ''],
      ['kill -9: lost / duplicated photos', `${kill.lost} / ${kill.duplicated}`, '0 / 0'],
      ['kill -9: whole run', `${kill.seconds.toFixed(1)} s`, ''],
    );
  const perGb = (bytes: number) => `${(2 ** 30 / bytes / 1e6).toFixed(2)} M jobs per GB`;
  rows.push(
    ['Redis memory per waiting job', `${Math.round(bytesPerWaitingJob)} B`, perGb(bytesPerWaitingJob)],
    ['Redis memory per finished job', `${Math.round(bytesPerJob)} B`, perGb(bytesPerJob)],
  );
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(
    [
      `captioner queue benchmark (${files.length} Flickr8k photos, batches of ${args.batch})`,
      ...rows.map(([name, value, target]) => `  ${name.padEnd(width)}  ${value.padStart(36)}  ${target}`),
    ].join('\n') + '\n',
  );
  if (args.json)
    process.stdout.write(
      JSON.stringify({
        photos: files.length,
        oneWorkerPhotosPerSecond: +one.steadyPhotosPerSecond.toFixed(2),
        twoWorkersPhotosPerSecond: +two.steadyPhotosPerSecond.toFixed(2),
        speedup: +speedup.toFixed(2),
        roundSpeedups: pairs.map((p) => +p.ratio.toFixed(2)),
        oneWorkerWholeRunPhotosPerSecond: +one.photosPerSecond.toFixed(2),
        twoWorkersWholeRunPhotosPerSecond: +two.photosPerSecond.toFixed(2),
        wholeRunSpeedup: +(two.photosPerSecond / one.photosPerSecond).toFixed(2),
        oneWorkerCores: +one.cores.toFixed(2),
        twoWorkersCores: +two.cores.toFixed(2),
        oneWorkerPhotosPerCpuSecond: +one.photosPerCpuSecond.toFixed(2),
        twoWorkersPhotosPerCpuSecond: +two.photosPerCpuSecond.toFixed(2),
        oneWorkerTwoThreadsPhotosPerSecond: +twoThreads.photosPerSecond.toFixed(2),
        oneWorkerTwoCaptionersPhotosPerSecond: +twoCaptioners.photosPerSecond.toFixed(2),
        killLost: kill?.lost ?? null,
        killDuplicated: kill?.duplicated ?? null,
        killInHand: kill?.inHandAtKill ?? null,
        killRunSeconds: kill ? +kill.seconds.toFixed(1) : null,
        redisBytesPerWaitingJob: Math.round(bytesPerWaitingJob),
        redisBytesPerJob: Math.round(bytesPerJob),
      }) + '\n',
    );
} finally {
  await clients.close();
  await redis.stop();
}
