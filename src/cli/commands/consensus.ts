import { InvalidArgumentError, Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { loadCorpus } from '../../data/corpus.js';
import { CONSENSUS_FILE, ConsensusIndex } from '../../decode/consensus.js';
import type { VectorBits } from '../../decode/consensus-format.js';
import { writeConsensusIndex } from '../../model/consensus-file.js';
import { loadModel } from '../../model/model-folder.js';
import { CaptionerError } from '../../util/errors.js';
import { readPooledFeatures } from '../../vision/feature-store.js';
import { nonNegative, positiveInt, runCommand } from '../run-command.js';

/**
 * Chosen on Flickr8k dev for the bundled default (see its model card): CIDEr-D agreement 3.6, BLEU-4
 * agreement 3 (BLEU-4 +0.7, CIDEr-D −0.2 against CIDEr-D alone at 3).
 */
export const DEFAULT_CONSENSUS = { k: 15, weight: 3.6, bleuWeight: 3 };

interface ConsensusCommandFlags {
  model: string;
  work: string;
  k: number;
  weight: number;
  bleuWeight: number;
  bits: VectorBits;
}

export function registerConsensus(program: Command): void {
  program
    .command('consensus')
    .description(
      `index the training photos (pooled features + captions) into the model folder's ${CONSENSUS_FILE}: its beam's captions are then reranked by how well they agree with the captions of the most similar training photos`,
    )
    .requiredOption('--model <dir>', 'model folder to add the index to')
    .requiredOption(
      '--work <workdir>',
      'work folder of `prepare` and `features` (its train split is indexed)',
    )
    .option(
      '--k <n>',
      'nearest training photos whose captions a caption is compared with',
      positiveInt('--k'),
      DEFAULT_CONSENSUS.k,
    )
    .option(
      '--weight <w>',
      "weight of the agreement (mean CIDEr-D, 0..10) against the model's length-normalised log-probability",
      nonNegative('--weight'),
      DEFAULT_CONSENSUS.weight,
    )
    .option(
      '--bleu-weight <w>',
      "weight of the agreement in BLEU-4 (mean sentence BLEU-4, 0..1, against each similar photo's captions), added to the CIDEr-D one; 0: none",
      nonNegative('--bleu-weight'),
      DEFAULT_CONSENSUS.bleuWeight,
    )
    .addOption(
      new Option(
        '--bits <n>',
        'bits per stored vector value: 4 (half the size, as good on Flickr8k dev) or 8',
      )
        .default(4)
        .argParser((v): VectorBits => {
          if (v !== '4' && v !== '8') throw new InvalidArgumentError('4 or 8');
          return Number(v) as VectorBits;
        }),
    )
    .action(
      runCommand(async (flags: ConsensusCommandFlags) => {
        const modelDir = resolve(flags.model);
        const work = resolve(flags.work);
        const model = await loadModel(modelDir);
        const encoder = model.config.encoder;
        if (!encoder)
          throw new CaptionerError(
            'MODEL_INVALID',
            `model ${modelDir} records no encoder: nothing to search with`,
          );
        const { corpus } = await loadCorpus(work);
        const store = await readPooledFeatures(work, encoder.name);
        if (store.encoder.sha256 !== encoder.sha256)
          throw new CaptionerError(
            'ENCODER_MISMATCH',
            `the features in ${work} come from another encoder than the model's (${encoder.name})`,
          );
        const photos = corpus.splits.train.filter((m) => store.get(m.image) && m.references.length > 0);
        const missing = corpus.splits.train.length - photos.length;
        if (missing > 0)
          process.stderr.write(`captioner: ${missing} training photos have no stored features: left out\n`);
        const index = ConsensusIndex.build({
          vectors: photos.map((m) => store.get(m.image)!),
          references: photos.map((m) => m.references),
          encoder: { name: encoder.name, sha256: encoder.sha256 },
          settings: { k: flags.k, weight: flags.weight, bleuWeight: flags.bleuWeight },
          bits: flags.bits,
          source: `${photos.length} train photos of ${work}`,
        });
        const { path, bytes } = await writeConsensusIndex(modelDir, index);
        const megabytes = (bytes / 1e6).toFixed(1);
        process.stdout.write(
          `consensus index of ${index.count} training photos (${index.dim}-d, ${index.bits}-bit, k ${flags.k}, weight ${flags.weight}, BLEU weight ${flags.bleuWeight}) written to ${path} (${megabytes} MB)\n`,
        );
      }),
    );
}
