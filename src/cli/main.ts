#!/usr/bin/env node
import { Command } from 'commander';
import { registerAverage } from './commands/average.js';
import { registerCaption } from './commands/caption.js';
import { registerClassify } from './commands/classify.js';
import { registerConsensus } from './commands/consensus.js';
import { registerEnsemble } from './commands/ensemble.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerFeatures } from './commands/features.js';
import { registerPrepare } from './commands/prepare.js';
import { registerQueue } from './commands/queue.js';
import { registerScore } from './commands/score.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';
import { registerWorker } from './commands/worker.js';

const program = new Command()
  .name('captioner')
  .description('Image captions from a CNN encoder and an LSTM decoder, trained on Flickr8k')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)');

// In pipeline order, as --help lists them.
registerPrepare(program);
registerFeatures(program);
registerClassify(program);
registerTrain(program);
registerAverage(program);
registerEnsemble(program);
registerConsensus(program);
registerEval(program);
registerScore(program);
registerCaption(program);
registerServe(program);
registerExport(program);
registerQueue(program);
registerWorker(program);

await program.parseAsync(process.argv);
