// npm run bench:serve [-- --json] [--duration 30] [--connections 8] [--runs 100] [--model dir] [--double]
// 1. Single-image latency, in-process: file → caption (beam 3) through the library, p50 and p95.
// 2. Server throughput: the HTTP server in this process, autocannon in a second process on loopback
//    POSTing a Flickr8k photo; captions per second and errors (anything but a 200).
// Run it under `flock /tmp/captioner-bench.lock` on a shared machine.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Captioner } from '../src/pipeline/captioner-types.js';
import { loadCaptioner as loadPipeline } from '../src/pipeline/load-captioner.js';
import { buildServer } from '../src/serve/server.js';
import { isCaptionerError } from '../src/util/errors.js';
import { sharedDir } from '../src/util/paths.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '30' },
    connections: { type: 'string', default: '8' },
    runs: { type: 'string', default: '100' },
    beam: { type: 'string', default: '3' },
    model: { type: 'string' },
    // The test double instead of the model: checks the harness, measures nothing real.
    double: { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`${line}\n`);

function fail(message: string): never {
  process.stderr.write(`bench:serve: ${message}\n`);
  process.exit(1);
}

function photos(count: number): string[] {
  const dir = join(sharedDir(), 'flickr8k');
  const list = join(dir, 'Flickr_8k.testImages.txt');
  if (!existsSync(list))
    fail(`Flickr8k not found in ${dir} (set CAPTIONER_SHARED to the folder holding flickr8k/)`);
  return readFileSync(list, 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, count)
    .map((name) => join(dir, 'Images', name));
}

async function loadCaptioner(): Promise<Captioner> {
  if (args.double) {
    const { DoubleCaptioner } = await import('../test/helpers/double-captioner.js');
    return new DoubleCaptioner();
  }
  process.env.CAPTIONER_ASSET_PATH ??= join(sharedDir(), 'models');
  try {
    return await loadPipeline({ model: args.model });
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
}

async function measureThroughput(captioner: Captioner, photo: string): Promise<LoadResult> {
  const app = buildServer({ captioner, webRoot: null });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/api/caption`;
  const client = fileURLToPath(new URL('./load-client.ts', import.meta.url));
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', client, url, photo, args.connections!, args.duration!],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`load client exited ${code}`)),
      );
    });
    return JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult;
  } finally {
    await app.close();
  }
}

const beam = Number(args.beam);
const files = photos(100);
log(`loading the captioner${args.double ? ' (TEST DOUBLE: numbers mean nothing)' : ''}…`);
const captioner = await loadCaptioner();
log(`latency: ${args.runs} captions, beam ${beam}, in-process…`);
const latency = await measureLatency(captioner, files, Number(args.runs), beam);
log(`throughput: ${args.connections} connections for ${args.duration} s from a second process…`);
const load = await measureThroughput(captioner, files[0]);
await captioner.dispose();

const capsPerSecond = load.ok / load.durationS;
const errors = load.non2xx + load.errors + load.timeouts;
const rows: [string, string, string][] = [
  ['single-image latency p50', `${latency.p50.toFixed(1)} ms`, '≤ 25 ms'],
  ['single-image latency p95', `${latency.p95.toFixed(1)} ms`, ''],
  ['server throughput', `${capsPerSecond.toFixed(1)} captions/s`, '≥ 40/s'],
  ['server errors', String(errors), '0'],
  ['server latency p50 / p99', `${load.latencyP50Ms} / ${load.latencyP99Ms} ms`, ''],
];
const width = Math.max(...rows.map((r) => r[0].length));
process.stdout.write(
  [
    `captioner serve benchmark (${captioner.card.name}; beam ${beam}; ${args.connections} connections, ${load.durationS} s)`,
    ...rows.map(([name, value, target]) => `  ${name.padEnd(width)}  ${value.padStart(16)}  ${target}`),
  ].join('\n') + '\n',
);
if (args.json) {
  process.stdout.write(
    JSON.stringify({
      latencyP50Ms: +latency.p50.toFixed(2),
      latencyP95Ms: +latency.p95.toFixed(2),
      capsPerSecond: +capsPerSecond.toFixed(2),
      errors,
    }) + '\n',
  );
}
