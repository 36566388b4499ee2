import type { Command } from 'commander';
import { resolve } from 'node:path';
import { averageWeights } from '../../model/average.js';
import { loadModel, saveInputOf, saveModel } from '../../model/model-folder.js';
import { runCommand } from '../run-command.js';

export function registerAverage(program: Command): void {
  program
    .command('average')
    .description("average the weights of checkpoints of one run (e.g. `train --keep-epochs`'s epochs/<n>)")
    .argument('<models...>', 'model folders of the same run')
    .requiredOption('--out <dir>', 'model folder to write')
    .option('--float16', 'store the weights as float16 (half the size)')
    .option('--int8', 'store the matrices as int8 with a scale per row (a quarter of the size)')
    .action(
      runCommand(async (dirs: string[], flags: { out: string; float16?: boolean; int8?: boolean }) => {
        const models = [];
        for (const dir of dirs) models.push(await loadModel(resolve(dir)));
        const [first] = models;
        const out = resolve(flags.out);
        await saveModel(out, {
          ...saveInputOf(first),
          params: averageWeights(models),
          dtype: flags.int8 ? 'Q8' : flags.float16 ? 'F16' : 'F32',
          training: { ...first.config.training, averageOf: models.map((m) => m.dir) },
        });
        process.stdout.write(`average of ${models.length} checkpoints written to ${out}\n`);
      }),
    );
}
