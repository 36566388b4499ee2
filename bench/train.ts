/**
 * npm run bench:train [-- --threads 2 --steps 30 --batch 64 --work <dir> --arch merge --skip-pytorch --json]
 *                     [--embed-dim E --units U --attention-dim A]   (attention: the bundled model's 512s)
 * Trains a decoder for a fixed number of steps on Flickr8k (real pooled features when the work folder
 * has them, else synthetic ones of the same size) and reports target tokens per second, where the time
 * goes and peak memory. When PyTorch is installed (Debian's python3-torch), the same model in PyTorch
 * (bench/pytorch_merge.py, bench/pytorch_attention.py) is measured right after, in the same run, and
 * the ratio printed.
 * With --json the last line is one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadCorpus, prepareCorpus, saveCorpus } from '../src/data/corpus.js';
import { inputShape } from '../src/model/architecture.js';
import { getArchitecture } from '../src/model/architectures.js';
import { loadTrainingData } from '../src/train/training-data.js';
import { ParamLayout } from '../src/model/params.js';
import { makeBatch, planEpoch, rowSeeds, type CaptionItem } from '../src/train/batches.js';
import { TrainingEngine } from '../src/train/engine.js';
import { cacheDir, sharedDir } from '../src/util/paths.js';
import { hashInts, Rng } from '../src/util/random.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    work: { type: 'string', default: process.env.CAPTIONER_WORK },
    arch: { type: 'string', default: 'merge' },
    'skip-pytorch': { type: 'boolean', default: false },
    'embed-dim': { type: 'string' },
    units: { type: 'string' },
    'attention-dim': { type: 'string' },
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
const arch = getArchitecture(args.arch);
const featureDim = 1280;
// Widths other than the architecture's defaults (the bundled attention model: 512 / 512 / 512).
const widths = Object.fromEntries(
  (
    [
      ['embedDim', args['embed-dim']],
      ['units', args.units],
      ['attentionDim', args['attention-dim']],
    ] as const
  )
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, Number(v)]),
);
const config = arch.validate({ ...arch.defaults(vocabulary.size, featureDim), ...widths });
const spatial = inputShape(arch, config).length > 1; // an attention model reads the spatial maps
const inputSize = inputShape(arch, config).reduce((a, b) => a * b, 1);
let featureSource = spatial ? 'real spatial' : 'real';
let table: (i: number) => Float32Array;
try {
  const data = await loadTrainingData(workDir, undefined, { spatial });
  if (data.featureDim !== featureDim || (spatial && data.regions !== inputSize / featureDim))
    throw new Error(`stored features are not ${inputShape(arch, config).join('×')} per image`);
  table = data.trainFeatures;
} catch (error) {
  featureSource = 'synthetic';
  say(`no stored features in ${workDir} (${(error as Error).message.split('\n')[0]}): using synthetic ones`);
  const rng = new Rng(7);
  const vectors = corpus.splits.train.map(() =>
    Float32Array.from({ length: inputSize }, () => rng.next() * 2),
  );
  table = (i) => vectors[i];
}
const items: CaptionItem[] = corpus.splits.train.flatMap((m, i) =>
  m.tokens.map((tokens) => ({ image: i, tokens })),
);

const layout = new ParamLayout(arch.params(config));
const engine = new TrainingEngine(arch, config, layout, { rows: batchSize, threads });
arch.init(config, layout, engine.params, new Rng(hashInts(1, 0x1417)));
const plan = planEpoch(items, batchSize, 1, 0);

// The graphs of every caption length the timed steps meet are built first: that is a one-off cost
// per run (reported apart), not a cost per step.
const buildStarted = performance.now();
for (let step = 0; step < warmup + steps; step++) {
  const items = plan[step % plan.length];
  await engine.loss(makeBatch(items, table, inputSize, new Uint32Array(items.length)));
}
const buildSeconds = (performance.now() - buildStarted) / 1000;

const time = { batch: 0, inputs: 0, graph: 0, update: 0 };
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
  const t = performance.now();
  const items = plan[step % plan.length];
  const batch = makeBatch(items, table, inputSize, rowSeeds(1, 0, step, items.length));
  time.batch += performance.now() - t;
  const r = await engine.step(batch, { learningRate: 1e-3, clipNorm: 5 });
  time.inputs += r.ms.inputs;
  time.graph += r.ms.graph;
  time.update += r.ms.update;
  tokens += r.tokens;
  lossSum += r.lossSum;
}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuStart); // every thread of the process
await engine.close();

/** The same model in PyTorch, in a child process, if this machine has it. */
function pytorchReference(): { tokensPerSecond: number; threads: number } | undefined {
  if (args['skip-pytorch'] || (args.arch !== 'merge' && args.arch !== 'attention')) return undefined;
  const script = fileURLToPath(new URL(`./pytorch_${args.arch}.py`, import.meta.url));
  const c = config as unknown as Record<string, number>;
  // The attention script takes the batch and widths; the merge script's are fixed (batch 64, 256s).
  const shape = args.arch === 'attention' ? [batchSize, c.embedDim, c.units, c.attentionDim].map(String) : [];
  const env = { ...process.env };
  // Some machines set these for old OpenBLAS builds; they slow a current one down (see README).
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  let best: { tokensPerSecond: number; threads: number } | undefined;
  for (const t of [1, 2]) {
    for (const python of ['/usr/bin/python3', 'python3']) {
      const run = spawnSync(python, [script, String(t), String(steps), ...shape], { env, encoding: 'utf8' });
      if (run.status !== 0) continue;
      const line = run.stdout.trim().split('\n').pop()!;
      const r = JSON.parse(line) as { tokensPerSecond: number };
      if (!best || r.tokensPerSecond > best.tokensPerSecond)
        best = { tokensPerSecond: r.tokensPerSecond, threads: t };
      break;
    }
  }
  return best;
}

const result = {
  arch: args.arch,
  tokensPerSecond: Math.round((tokens / ms) * 1000),
  msPerStep: +(ms / steps).toFixed(1),
  tokensPerStep: Math.round(tokens / steps),
  steps,
  batch: batchSize,
  threads,
  runtime: 'onnxruntime',
  vocabSize: vocabulary.size,
  features: featureSource,
  loss: +(lossSum / tokens).toFixed(4),
  graphBuildSeconds: +buildSeconds.toFixed(1),
  // CPU time of all threads per step: what the step costs when the cores are shared.
  cpuMsPerStep: +((cpu.user + cpu.system) / 1000 / steps).toFixed(1),
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  loadAverage: loadavg().map((l) => +l.toFixed(2)),
  breakdownMsPerStep: Object.fromEntries(Object.entries(time).map(([k, v]) => [k, +(v / steps).toFixed(1)])),
  pytorch: undefined as undefined | { tokensPerSecond: number; threads: number },
  vsPytorch: undefined as undefined | number,
};
say(
  `${result.tokensPerSecond} target tokens/s, ${result.msPerStep} ms/step (${result.tokensPerStep} tokens/step, ${args.arch}${Object.keys(widths).length ? ` ${JSON.stringify(widths)}` : ''}, batch ${batchSize}, ${threads} thread(s), vocabulary ${vocabulary.size}, ${featureSource} features)`,
);
say(
  `per step: ${Object.entries(result.breakdownMsPerStep)
    .map(([k, v]) => `${k} ${v} ms`)
    .join(
      ', ',
    )} (batch: making the batch; inputs: padding and dropout masks; graph: forward, loss and backward in onnxruntime; update: Adam)`,
);
say(
  `graphs built and loaded in ${result.graphBuildSeconds} s (once per caption length); CPU ${result.cpuMsPerStep} ms/step over all threads; peak RSS ${result.peakRssMB} MB; load average ${result.loadAverage.join(', ')}`,
);
result.pytorch = pytorchReference();
if (result.pytorch) {
  result.vsPytorch = +(result.tokensPerSecond / result.pytorch.tokensPerSecond).toFixed(2);
  say(
    `PyTorch (same model, batch ${args.arch === 'attention' ? batchSize : 64}, ${result.pytorch.threads} thread(s), measured just now): ${Math.round(result.pytorch.tokensPerSecond)} tokens/s; captioner is ${result.vsPytorch}× that`,
  );
} else if (!args['skip-pytorch']) say('PyTorch is not installed here: no reference measured');
if (args.json) process.stdout.write(JSON.stringify(result) + '\n');
