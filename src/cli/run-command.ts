import { isCaptionerError } from '../util/errors.js';

/**
 * Wraps a command's action: a user-facing error is one line on stderr and exit code 1; anything else is
 * a bug and keeps its stack. The action returns the exit code it wants (e.g. 1 when some files failed).
 */
export function runCommand<A extends unknown[]>(action: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await action(...args);
      process.exitCode = code ?? 0;
    } catch (error) {
      if (isCaptionerError(error)) {
        process.stderr.write(`captioner: error: ${error.message}\n`);
      } else {
        process.stderr.write(`captioner: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      }
      process.exitCode = 1;
    }
  };
}

/** Parses a positive integer option, with the option's name in the error. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`${name} must be a positive whole number, got "${value}"`);
    return n;
  };
}

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${value}"`);
    return n;
  };
}
