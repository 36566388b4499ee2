#!/usr/bin/env node
import { Command } from 'commander';
import { registerPrepare } from './commands/prepare.js';

const program = new Command()
  .name('captioner')
  .description('Image captions from a CNN encoder and an LSTM decoder, trained on Flickr8k')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)');

registerPrepare(program);

await program.parseAsync(process.argv);
