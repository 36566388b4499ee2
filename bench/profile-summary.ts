/**
 * Summarises onnxruntime's per-operator profiles: where a graph's time goes, by operator type and by
 * node, with the rate of each matrix product. Write profiles with CAPTIONER_ORT_PROFILE=<prefix> on any
 * command that runs onnxruntime-node (training, eval, bench:train, bench:serve), then:
 *   npx tsx bench/profile-summary.ts <prefix or profile .json files…> [--top 25]
 * Times are per run (model_run) of the sessions profiled, summed over every file given.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileEvent {
  cat?: string;
  name: string;
  dur: number;
  args?: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts <prefix or files…> [--top 25]\n');
  process.exit(2);
}

/** The profile files of a prefix (onnxruntime appends a timestamp and .json), or the file itself. */
async function filesOf(arg: string): Promise<string[]> {
  if (arg.endsWith('.json')) return [arg];
  const dir = dirname(arg);
  const stem = basename(arg);
  const names = await readdir(dir);
  return names.filter((n) => n.startsWith(stem) && n.endsWith('.json')).map((n) => join(dir, n));
}

const shapes = (list: Record<string, number[]>[] | undefined) => (list ?? []).map((t) => Object.values(t)[0]);
const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

const byType = new Map<string, { us: number; count: number }>();
const byNode = new Map<
  string,
  { us: number; count: number; op: string; inputs: number[][]; flops: number }
>();
let runs = 0;
let runUs = 0;
const files = (await Promise.all(positionals.map(filesOf))).flat();
if (files.length === 0) throw new Error(`no profile files for ${positionals.join(', ')}`);
for (const file of files) {
  const events = JSON.parse(await readFile(file, 'utf8')) as ProfileEvent[];
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') {
      runs++;
      runUs += e.dur;
    }
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.op_name) continue;
    const op = e.args.op_name;
    const t = byType.get(op) ?? { us: 0, count: 0 };
    t.us += e.dur;
    t.count++;
    byType.set(op, t);
    const inputs = shapes(e.args.input_type_shape);
    const outputs = shapes(e.args.output_type_shape);
    // A product's work: 2·(output elements)·K, K the shared dimension, from the operand sizes
    // (|A|·|B| = |out|·K² for a plain or batched product, transposed or not).
    let flops = 0;
    if (/MatMul|Gemm/.test(op) && inputs.length >= 2 && outputs[0]) {
      const out = product(outputs[0]);
      flops = 2 * out * Math.sqrt((product(inputs[0]) * product(inputs[1])) / out);
    }
    const key = `${op} ${JSON.stringify(inputs)}`;
    const n = byNode.get(key) ?? { us: 0, count: 0, op, inputs, flops };
    n.us += e.dur;
    n.count++;
    byNode.set(key, n);
  }
}
if (runs === 0) throw new Error('the profiles hold no model_run event');

const kernelUs = [...byType.values()].reduce((a, t) => a + t.us, 0);
const ms = (us: number) => (us / runs / 1000).toFixed(2).padStart(8);
const say = (line: string) => process.stdout.write(line + '\n');
say(
  `${files.length} profile file(s), ${runs} runs: ${ms(runUs)} ms a run, of which kernels ${ms(kernelUs)} ms`,
);
say('\nby operator type (ms a run, nodes a run, share of kernel time)');
for (const [op, t] of [...byType].sort((a, b) => b[1].us - a[1].us))
  say(
    `${op.padEnd(28)}${ms(t.us)}  ${(t.count / runs).toFixed(1).padStart(7)}  ${((100 * t.us) / kernelUs).toFixed(1).padStart(5)}%`,
  );
say(`\ntop ${values.top} nodes by time (same operator and input shapes counted together)`);
for (const n of [...byNode.values()].sort((a, b) => b.us - a.us).slice(0, Number(values.top))) {
  const rate = n.flops > 0 ? `  ${((n.flops * n.count) / n.us / 1e3).toFixed(0)} GFLOP/s` : '';
  say(
    `${ms(n.us)}  ${(n.count / runs).toFixed(1).padStart(6)}/run  ${n.op.padEnd(14)} ${JSON.stringify(n.inputs)}${rate}`,
  );
}
