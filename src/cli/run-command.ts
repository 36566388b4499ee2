import { InvalidArgumentError } from 'commander';
import { SPLITS, type Split } from '../data/splits.js';
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

/**
 * Number parsers for options, with the option's name in the message. They throw commander's
 * InvalidArgumentError, which commander prints as a usage error (exit 1), not a crash.
 */
function numberOption(name: string, ok: (n: number) => boolean, what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !ok(n))
      throw new InvalidArgumentError(`${name} must be ${what}, got "${value}"`);
    return n;
  };
}

export const positiveInt = (name: string) =>
  numberOption(name, (n) => Number.isInteger(n) && n > 0, 'a positive whole number');
export const nonNegativeInt = (name: string) =>
  numberOption(name, (n) => Number.isInteger(n) && n >= 0, 'a whole number ≥ 0');
export const positiveNumber = (name: string) =>
  numberOption(name, (n) => Number.isFinite(n) && n > 0, 'a positive number');
export const nonNegative = (name: string) =>
  numberOption(name, (n) => Number.isFinite(n) && n >= 0, 'a number ≥ 0');
/** A probability that is not 1, such as a dropout rate. */
export const belowOne = (name: string) =>
  numberOption(name, (n) => Number.isFinite(n) && n >= 0 && n < 1, 'a number in [0, 1)');

/** A split name (the splits of the official Flickr8k lists). */
export function splitArg(value: string): Split {
  if (!(SPLITS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${SPLITS.join(', ')}, got "${value}"`);
  return value as Split;
}
