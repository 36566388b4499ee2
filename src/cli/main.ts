#!/usr/bin/env node
import { Command } from 'commander';
import { registerPrepare } from './commands/prepare.js';
import { registerFeatures } from './commands/features.js';
import { registerClassify } from './commands/classify.js';
import { registerScore } from './commands/score.js';
import { registerServe } from './commands/serve.js';
import { registerTrain } from './commands/train.js';
import { registerCaption } from './commands/caption.js';
import { registerEval } from './commands/eval.js';

const program = new Command()
  .name('captioner')
  .description('Image captions from a CNN encoder and an LSTM decoder, trained on Flickr8k')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)');

registerPrepare(program);
registerFeatures(program);
registerClassify(program);
registerScore(program);
registerServe(program);
registerTrain(program);
registerEval(program);
registerCaption(program);

await program.parseAsync(process.argv);
