import type { Command } from 'commander';
import { resolve } from 'node:path';
import { runCommand } from '../run-command.js';

interface ExportFlags {
  model?: string;
  encoder?: string;
  out: string;
  spatial?: boolean;
  int8: boolean;
  withPage?: boolean;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(
      'write a self-contained bundle (encoder and decoder ONNX graphs, config.json, README) to caption on a device; --with-page adds the web page for any static host',
    )
    .requiredOption('--out <dir>', 'folder to write (created if needed)')
    .option('--model <dir>', 'model folder (default: the bundled model)')
    .option('--encoder <name|path>', "image encoder (default: the model's own)")
    .option('--spatial', "also expose the encoder's spatial map (attention models get it anyway)")
    .option('--no-int8', 'write float32 decoder weights (default: Q8 weights stay int8 in the graphs)')
    .option(
      '--with-page',
      'also write the web page and the onnxruntime-web files: the folder is then a site for any static host, captioning on the device (the bundle goes in <out>/model/)',
    )
    .action(
      runCommand(async (flags: ExportFlags) => {
        // Imported here, so other commands start without the model stack.
        const { buildBundle, writeBundle } = await import('../../export/bundle.js');
        const out = resolve(flags.out);
        const bundle = await buildBundle({
          model: flags.model,
          encoder: flags.encoder,
          spatial: flags.spatial,
          int8: flags.int8,
        });
        let modelDir = out;
        if (flags.withPage) {
          const { writeStaticPage } = await import('../../export/static-page.js');
          modelDir = await writeStaticPage(out);
        }
        await writeBundle(modelDir, bundle);
        for (const f of bundle.config.files)
          process.stdout.write(`${resolve(modelDir, f.name)}  ${(f.bytes / 1e6).toFixed(2)} MB\n`);
        if (flags.withPage)
          process.stdout.write(
            `the site is in ${out}: serve it from any static host (see ${resolve(out, 'HOSTING.md')})\n`,
          );
      }),
    );
}
