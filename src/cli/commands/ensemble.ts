import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadModel, saveEnsemble, saveInputOf, saveModel } from '../../model/model-folder.js';
import { CaptionerError } from '../../util/errors.js';
import { nonNegative, runCommand } from '../run-command.js';

interface EnsembleFlags {
  out: string;
  float16?: boolean;
  int8?: boolean;
  lengthPenalty?: number;
  int8Products?: boolean;
  int8Layers?: string[];
}

export function registerEnsemble(program: Command): void {
  program
    .command('ensemble')
    .description(
      'combine trained models (same vocabulary and encoder) into one model folder that averages them; given one model, write it again (e.g. as int8, with a length penalty)',
    )
    .argument('<models...>', 'model folders written by `captioner train`')
    .requiredOption('--out <dir>', 'ensemble model folder to write')
    .option('--float16', "store the members' weights as float16 (half the size)")
    .option(
      '--int8',
      "store the members' matrices as int8 with a scale per column (per row for the embedding): a quarter of the size",
    )
    .option(
      '--int8-products',
      'with int8 weights: decode by default with the products in integers (faster; activations quantized)',
    )
    .option(
      '--int8-layers <weights>',
      'with int8 weights: decode by default with only the products with these weights in integers (comma-separated parameter names, e.g. output.kernel)',
      (v: string) =>
        v
          .split(',')
          .map((w) => w.trim())
          .filter((w) => w.length > 0),
    )
    .option(
      '--length-penalty <alpha>',
      'the beam search length normalisation to use by default',
      nonNegative('--length-penalty'),
    )
    .action(
      runCommand(async (dirs: string[], flags: EnsembleFlags) => {
        const members = [];
        for (const dir of dirs) {
          const m = await loadModel(resolve(dir));
          const dtype = flags.int8 ? 'Q8' : flags.float16 ? 'F16' : undefined;
          if (dtype) m.config = { ...m.config, weights: { ...m.config.weights, dtype } };
          members.push(m);
        }
        const integerProducts = flags.int8Layers ?? flags.int8Products;
        if (integerProducts && !members.every((m) => m.config.weights.dtype === 'Q8'))
          throw new CaptionerError(
            'BAD_OPTION',
            '--int8-products and --int8-layers need int8 weights: add --int8',
          );
        const layouts = new Set(members.flatMap((m) => m.layout.specs.map((s) => s.name)));
        const unknown = (flags.int8Layers ?? []).filter((w) => !layouts.has(w));
        if (unknown.length > 0)
          throw new CaptionerError(
            'BAD_OPTION',
            `--int8-layers: no weight named ${unknown.join(', ')} in these models`,
          );
        const out = resolve(flags.out);
        const chosen = {
          ...(flags.lengthPenalty !== undefined ? { lengthPenalty: flags.lengthPenalty } : {}),
          ...(integerProducts ? { integerProducts } : {}),
        };
        const decoding = Object.keys(chosen).length > 0 ? { decoding: chosen } : {};
        if (members.length === 1) {
          await saveModel(out, { ...saveInputOf(members[0]), ...decoding });
          process.stdout.write(`model written to ${out}\n`);
          return;
        }
        await saveEnsemble(out, members, {
          ...decoding,
          training: {
            // As given: an absolute path would name the machine it was built on.
            ensembleOf: dirs,
            members: members.map((m) => m.config.training ?? {}),
          },
        });
        process.stdout.write(`ensemble of ${members.length} models written to ${out}\n`);
      }),
    );
}
