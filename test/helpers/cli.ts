import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the captioner CLI from source, as a user would run the built one. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * `captioner eval --model <model> --split dev --out <out> ...args`, which must succeed: the run, its
 * summary when `--json` is among the args, and the captions it wrote.
 */
export async function runDevEval(
  model: string,
  args: string[],
  out: string,
): Promise<{
  run: CliResult;
  summary: Record<string, unknown>;
  captions: { image: string; caption: string }[];
}> {
  const run = await runCli(['eval', '--model', model, '--split', 'dev', '--out', out, ...args]);
  if (run.code !== 0) throw new Error(`captioner eval failed: ${run.stderr}`);
  const summary = args.includes('--json') ? (JSON.parse(run.stdout) as Record<string, unknown>) : {};
  return {
    run,
    summary,
    captions: JSON.parse(await readFile(out, 'utf8')) as { image: string; caption: string }[],
  };
}
