/**
 * npm run bench:train [-- --threads 2 --steps 30 --batch 64 --work <dir> --json]
 * Trains the merge model for a fixed number of steps on Flickr8k (real pooled features when the work
 * folder has them, else synthetic ones of the same size) and reports target tokens per second and
 * where the time goes. With --json the last line is one JSON object.
 */
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCorpus, prepareCorpus, saveCorpus } from '../src/data/corpus.js';
import { getArchitecture } from '../src/model/architectures.js';
import { ParamLayout } from '../src/model/params.js';
import { initTf } from '../src/model/tf-backend.js';
import { makeBatch, planEpoch, rowSeeds, type CaptionItem } from '../src/train/batches.js';
import { createEngine } from '../src/train/engine.js';
import { cacheDir, sharedDir } from '../src/util/paths.js';
import { hashInts, Rng } from '../src/util/random.js';
import { readPooledFeatures } from '../src/vision/feature-store.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    work: { type: 'string', default: process.env.CAPTIONER_WORK },
    json: { type: 'boolean', default: false },
  },
});
const threads = Number(args.threads);
const steps = Number(args.steps);
const warmup = Number(args.warmup);
const batchSize = Number(args.batch);
const say = (line: string) => process.stderr.write(line + '\n');

async function corpusDir(): Promise<string> {
  if (args.work) return args.work;
  const dir = join(cacheDir(), 'bench-work');
  try {
    await loadCorpus(dir);
  } catch {
    say(`preparing the Flickr8k corpus in ${dir}`);
    await saveCorpus(dir, await prepareCorpus({ dataDir: join(sharedDir(), 'flickr8k') }));
  }
  return dir;
}

const workDir = await corpusDir();
const { corpus, vocabulary } = await loadCorpus(workDir);
let featureSource = 'real';
let table: (i: number) => Float32Array;
let featureDim = 1280;
try {
  const store = await readPooledFeatures(workDir);
  featureDim = store.dim;
  const vectors = corpus.splits.train.map((m) => store.get(m.image));
  if (vectors.some((v) => !v)) throw new Error('some train images have no features');
  table = (i) => vectors[i]!;
} catch (error) {
  featureSource = 'synthetic';
  say(`no stored features in ${workDir} (${(error as Error).message.split('\n')[0]}): using synthetic ones`);
  const rng = new Rng(7);
  const vectors = corpus.splits.train.map(() =>
    Float32Array.from({ length: featureDim }, () => rng.next() * 2),
  );
  table = (i) => vectors[i];
}
const items: CaptionItem[] = corpus.splits.train.flatMap((m, i) =>
  m.tokens.map((tokens) => ({ image: i, tokens })),
);

const backend = await initTf();
const arch = getArchitecture('merge');
const config = arch.defaults(vocabulary.size, featureDim);
const layout = new ParamLayout(arch.params(config));
const engine = await createEngine(config, threads);
arch.init(config, layout, engine.params, new Rng(hashInts(1, 0x1417)));
const plan = planEpoch(items, batchSize, 1, 0);

const time = { batch: 0, gradients: 0, update: 0, other: 0 };
let tokens = 0;
let lossSum = 0;
let started = 0;
let cpuStart = process.cpuUsage();
for (let step = 0; step < warmup + steps; step++) {
  if (step === warmup) {
    started = performance.now();
    cpuStart = process.cpuUsage();
    tokens = lossSum = 0;
    for (const k of Object.keys(time) as (keyof typeof time)[]) time[k] = 0;
  }
  let t = performance.now();
  const lap = (k: keyof typeof time) => {
    const now = performance.now();
    time[k] += now - t;
    t = now;
  };
  const items = plan[step % plan.length];
  const batch = makeBatch(items, table, featureDim, rowSeeds(1, 0, step, items.length));
  lap('batch');
  const r = await engine.step(batch, { learningRate: 1e-3, clipNorm: 5 });
  time.gradients += r.ms.gradients;
  time.update += r.ms.update;
  lap('other'); // main-thread overhead around the step (messages, batch split)
  time.other -= r.ms.gradients + r.ms.update;
  tokens += r.tokens;
  lossSum += r.lossSum;
}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuStart); // every thread of the process
await engine.close();
const result = {
  tokensPerSecond: Math.round((tokens / ms) * 1000),
  msPerStep: +(ms / steps).toFixed(1),
  tokensPerStep: Math.round(tokens / steps),
  steps,
  batch: batchSize,
  threads,
  backend,
  vocabSize: vocabulary.size,
  features: featureSource,
  loss: +(lossSum / tokens).toFixed(4),
  // CPU time of all threads per step: what the step costs when the cores are shared.
  cpuMsPerStep: +((cpu.user + cpu.system) / 1000 / steps).toFixed(1),
  loadAverage: loadavg().map((l) => +l.toFixed(2)),
  breakdownMsPerStep: Object.fromEntries(Object.entries(time).map(([k, v]) => [k, +(v / steps).toFixed(1)])),
};
say(
  `${result.tokensPerSecond} target tokens/s, ${result.msPerStep} ms/step (${result.tokensPerStep} tokens/step, batch ${batchSize}, ${threads} thread(s), ${backend}, vocabulary ${vocabulary.size}, ${featureSource} features)`,
);
say(
  `per step: ${Object.entries(result.breakdownMsPerStep)
    .map(([k, v]) => `${k} ${v} ms`)
    .join(
      ', ',
    )} (gradients: forward and backward, rows split across threads; update: gradient sum, clipping and Adam, weights split across threads)`,
);
say(`CPU ${result.cpuMsPerStep} ms/step over all threads; load average ${result.loadAverage.join(', ')}`);
if (args.json) process.stdout.write(JSON.stringify(result) + '\n');
