// npm run bench:serve [-- --json] [--duration 30] [--connections 8] [--runs 100] [--model dir] [--double]
//                     [--workers n] [--overload-connections 256] [--overload-duration 15] [--overload-rounds 3]
//                     [--phases latency,throughput,overload]
// 1. Single-image latency, in-process: file → caption (beam 3) through the library, p50 and p95.
// 2. Server throughput: the HTTP server in this process, captioning in worker threads as `captioner serve`
//    does (one per core, or --workers), autocannon in a second process on loopback POSTing a Flickr8k
//    photo; captions per second and errors (anything but a 200).
// 3. Overload: a 1.5-megapixel JPEG (~240 KB, a mosaic of Flickr8k photos) at 8 connections, then at
//    256, in 3 rounds (order alternating; the round of the median ratio shown: this machine's speed
//    drifts within a minute); captions per second answered 200 in each, their ratio (goodput kept under overload), the p99
//    of the accepted requests, the 503s, and the server process's peak RSS.
// Run it under `flock /tmp/captioner-bench.lock` on a shared machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import type { Captioner } from '../src/pipeline/captioner-types.js';
import { loadCaptionerPool } from '../src/pipeline/captioner-pool.js';
import { loadCaptioner as loadPipeline } from '../src/pipeline/load-captioner.js';
import { buildServer } from '../src/serve/server.js';
import { isCaptionerError } from '../src/util/errors.js';
import { sharedDir } from '../src/util/paths.js';
import { pairedRounds, type Round } from './paired-rounds.js';
import { failWith, testPhotos } from './test-photos.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '30' },
    connections: { type: 'string', default: '8' },
    runs: { type: 'string', default: '100' },
    beam: { type: 'string', default: '3' },
    model: { type: 'string' },
    'overload-connections': { type: 'string', default: '256' },
    'overload-base': { type: 'string', default: '8' },
    'overload-duration': { type: 'string', default: '15' },
    // This machine's speed drifts within a minute, so the two loads are measured in several rounds
    // (the order alternating) and the round of the median ratio is shown.
    'overload-rounds': { type: 'string', default: '3' },
    phases: { type: 'string', default: 'latency,throughput,overload' },
    // The test double instead of the model: checks the harness, measures nothing real.
    double: { type: 'boolean', default: false },
    workers: { type: 'string' },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);
const fail = failWith('bench:serve');
const phases = new Set(args.phases!.split(','));
for (const phase of phases)
  if (!['latency', 'throughput', 'overload'].includes(phase)) fail(`unknown phase "${phase}"`);

/**
 * A 1.5-megapixel JPEG of about 240 KB, as a phone upload scaled down would be: a 6 × 4 mosaic of
 * Flickr8k photos (the shared copies are 224 × 224, too small to stand for an upload on their own).
 */
async function largePhoto(files: string[]): Promise<string> {
  const tile = 250;
  const tiles = await Promise.all(
    files.slice(0, 24).map(async (file, i) => ({
      input: await sharp(file).resize(tile, tile).toBuffer(),
      left: (i % 6) * tile,
      top: Math.floor(i / 6) * tile,
    })),
  );
  const jpeg = await sharp({ create: { width: 6 * tile, height: 4 * tile, channels: 3, background: '#000' } })
    .composite(tiles)
    .jpeg({ quality: 62 })
    .toBuffer();
  const path = join(mkdtempSync(join(tmpdir(), 'captioner-bench-')), 'large.jpg');
  writeFileSync(path, jpeg);
  return path;
}

/**
 * The captioner: in this thread for the latency phase, or in worker threads, one per core (--workers),
 * as `captioner serve` runs it, for the server phases.
 */
async function loadCaptioner(inThreads = false): Promise<Captioner> {
  if (args.double) {
    const { DoubleCaptioner } = await import('../test/helpers/double-captioner.js');
    return new DoubleCaptioner();
  }
  process.env.CAPTIONER_ASSET_PATH ??= join(sharedDir(), 'models');
  try {
    return inThreads
      ? await loadCaptionerPool({
          model: args.model,
          workers: args.workers === undefined ? undefined : Number(args.workers),
        })
      : await loadPipeline({ model: args.model });
  } catch (error) {
    if (isCaptionerError(error)) fail(`cannot load the captioner: ${error.message}`);
    throw error;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measureLatency(captioner: Captioner, files: string[], runs: number, beam: number) {
  for (const file of files.slice(0, 5)) await captioner.caption(file, { beam }); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await captioner.caption(files[i % files.length], { beam });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

interface LoadResult {
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  refused503: number;
  acceptedP50Ms: number;
  acceptedP99Ms: number;
  /** This process's (the server's) largest resident set during the run, in MB. */
  peakRssMb: number;
  /** The server's CPU time during the run, in seconds (the load client's is clientCpuS). */
  serverCpuS: number;
  clientCpuS: number;
}

async function startServer(captioner: Captioner): Promise<FastifyInstance> {
  const app = buildServer({ captioner, webRoot: null });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app;
}

/** Load from a second process against a running server. */
async function measureThroughput(
  app: FastifyInstance,
  photo: string,
  connections: number,
  duration: number,
): Promise<LoadResult> {
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/caption`;
  const client = fileURLToPath(new URL('./load-client.ts', import.meta.url));
  let peakRss = process.memoryUsage.rss();
  const cpuBefore = process.cpuUsage();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', client, url, photo, String(connections), String(duration)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`load client exited ${code}`)),
      );
    });
    const cpu = process.cpuUsage(cpuBefore);
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as Omit<
      LoadResult,
      'peakRssMb' | 'serverCpuS'
    >;
    return {
      ...result,
      peakRssMb: Math.round(peakRss / 2 ** 20),
      serverCpuS: +((cpu.user + cpu.system) / 1e6).toFixed(1),
    };
  } finally {
    clearInterval(sampler);
  }
}

const beam = Number(args.beam);
const files = testPhotos(100, fail);
log(`loading the captioner${args.double ? ' (TEST DOUBLE: numbers mean nothing)' : ''}…`);
const captioner = await loadCaptioner();
const served = phases.has('throughput') || phases.has('overload') ? await loadCaptioner(true) : undefined;
let latency: { p50: number; p95: number } | undefined;
if (phases.has('latency')) {
  log(`latency: ${args.runs} captions, beam ${beam}, in-process…`);
  latency = await measureLatency(captioner, files, Number(args.runs), beam);
}
let load: LoadResult | undefined;
if (phases.has('throughput')) {
  log(`throughput: ${args.connections} connections for ${args.duration} s from a second process…`);
  const app = await startServer(served!);
  load = await measureThroughput(app, files[0], Number(args.connections), Number(args.duration));
  await app.close();
}
let overload:
  { base: LoadResult; high: LoadResult; photoBytes: number; rounds: Round<LoadResult>[] } | undefined;
const rate = (r: LoadResult) => r.ok / r.durationS;
if (phases.has('overload')) {
  const photo = await largePhoto(files);
  const photoBytes = statSync(photo).size;
  const seconds = Number(args['overload-duration']);
  const [baseConnections, highConnections] = [args['overload-base'], args['overload-connections']].map(
    Number,
  );
  log(
    `overload: a 1.5-megapixel JPEG (${Math.round(photoBytes / 1024)} KB), ${baseConnections} connections for ${seconds} s…`,
  );
  // One server for both, as a load test against `captioner serve` would find it.
  const app = await startServer(served!);
  const rounds = Math.max(1, Number(args['overload-rounds']));
  const measured = await pairedRounds(
    rounds,
    (setting, round) => {
      const connections = setting === 'base' ? baseConnections : highConnections;
      log(`overload, round ${round}/${rounds}: ${connections} connections for ${seconds} s…`);
      return measureThroughput(app, photo, connections, seconds);
    },
    (base, high) => rate(high) / rate(base),
  );
  await app.close();
  rmSync(dirname(photo), { recursive: true, force: true });
  overload = {
    base: measured.median.base,
    high: measured.median.other,
    photoBytes,
    rounds: measured.rounds,
  };
}
await captioner.dispose();
await served?.dispose();

const rows: [string, string, string][] = [];
if (latency)
  rows.push(
    ['single-image latency p50', `${latency.p50.toFixed(1)} ms`, '≤ 25 ms'],
    ['single-image latency p95', `${latency.p95.toFixed(1)} ms`, ''],
  );
const capsPerSecond = load && load.ok / load.durationS;
const errors = load && load.non2xx + load.errors + load.timeouts;
if (load)
  rows.push(
    ['server throughput', `${capsPerSecond!.toFixed(1)} captions/s`, '≥ 40/s'],
    ['server errors', String(errors), '0'],
    ['server latency p50 / p99', `${load.latencyP50Ms} / ${load.latencyP99Ms} ms`, ''],
  );
const goodput = overload && rate(overload.high) / rate(overload.base);
if (overload) {
  const { base, high } = overload;
  const at = (n: string) => `at ${n} connections`;
  for (const [r, n] of [
    [base, args['overload-base']!],
    [high, args['overload-connections']!],
  ] as const) {
    rows.push(
      [`1.5 MP: captions ${at(n)}`, `${rate(r).toFixed(1)} captions/s`, ''],
      [`1.5 MP: 503s / errors ${at(n)}`, `${r.refused503} / ${r.errors + r.timeouts}`, ''],
      [`1.5 MP: accepted p50 / p99 ${at(n)}`, `${r.acceptedP50Ms} / ${r.acceptedP99Ms} ms`, 'p99 < 2000 ms'],
      [`1.5 MP: server peak RSS ${at(n)}`, `${r.peakRssMb} MB`, '< 1024 MB'],
      [
        `1.5 MP: CPU of server / load client ${at(n)}`,
        `${(r.serverCpuS / r.durationS).toFixed(2)} / ${(r.clientCpuS / r.durationS).toFixed(2)} cores`,
        `${(r.ok / r.serverCpuS).toFixed(1)} captions per server CPU-second`,
      ],
    );
  }
  rows.push(
    ['1.5 MP: goodput kept under overload', `${goodput!.toFixed(2)}×`, '≥ 0.8×'],
    [
      `1.5 MP: goodput of the ${overload.rounds.length} rounds`,
      overload.rounds.map((r) => `${r.ratio.toFixed(2)}×`).join(' '),
      'the median round is shown above',
    ],
  );
}
const width = Math.max(...rows.map((r) => r[0].length));
const setting = load ? `; ${args.connections} connections, ${load.durationS} s` : '';
process.stdout.write(
  [
    `captioner serve benchmark (${captioner.card.name}; beam ${beam}${setting})`,
    ...rows.map(([name, value, target]) => `  ${name.padEnd(width)}  ${value.padStart(18)}  ${target}`),
  ].join('\n') + '\n',
);
const round2 = (x: number | undefined) => (x === undefined ? null : +x.toFixed(2));
if (args.json) {
  process.stdout.write(
    JSON.stringify({
      latencyP50Ms: round2(latency?.p50),
      latencyP95Ms: round2(latency?.p95),
      capsPerSecond: round2(capsPerSecond),
      errors: errors ?? null,
      overloadPhotoBytes: overload?.photoBytes ?? null,
      overloadBaseConnections: overload ? Number(args['overload-base']) : null,
      overloadBaseCapsPerSecond: round2(overload && rate(overload.base)),
      overloadConnections: overload ? Number(args['overload-connections']) : null,
      overloadCapsPerSecond: round2(overload && rate(overload.high)),
      overloadGoodputRatio: round2(goodput),
      overloadRoundRatios: (overload?.rounds ?? []).map((r) => round2(r.ratio)),
      overloadAcceptedP99Ms: overload?.high.acceptedP99Ms ?? null,
      overloadRefused503: overload?.high.refused503 ?? null,
      overloadErrors: overload ? overload.high.errors + overload.high.timeouts : null,
      overloadPeakRssMb: overload ? Math.max(overload.base.peakRssMb, overload.high.peakRssMb) : null,
    }) + '\n',
  );
}
