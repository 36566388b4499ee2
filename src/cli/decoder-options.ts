import type { Command } from 'commander';
import { nonNegative, positiveInt } from './run-command.js';

/**
 * `--int8-products` / `--no-int8-products` (for `.option(...INT8_PRODUCTS).option(...NO_INT8_PRODUCTS)`):
 * multiply with the model's int8 weights in integers, or in floats, whatever its
 * `decoding.integerProducts` says. Neither given: the model's own choice (commander leaves it undefined
 * when both forms are declared).
 */
export const INT8_PRODUCTS = [
  '--int8-products',
  "multiply with the model's int8 weights in integers, quantizing the activations at each step: faster, slightly different captions (default: the model's decoding.integerProducts)",
] as const;

export const NO_INT8_PRODUCTS = [
  '--no-int8-products',
  "multiply with the model's weights in floats, even where its decoding says integers",
] as const;

export interface IntegerProductsFlags {
  /** true / false when given; undefined: the model's own choice. */
  int8Products?: boolean;
}

/**
 * Adds `--no-consensus`, `--consensus-k <n>`, `--consensus-weight <w>` to a command: consensus reranking
 * with the model folder's index (`captioner consensus`), on by default where it has one.
 */
export function addConsensusOptions(command: Command): Command {
  return command
    .option(
      '--no-consensus',
      "rank the beam's captions by the model's score alone, not reranked by the model folder's consensus index",
    )
    .option(
      '--consensus-k <n>',
      "consensus reranking: how many nearest training photos lend their captions (default: the index's)",
      positiveInt('--consensus-k'),
    )
    .option(
      '--consensus-weight <w>',
      "consensus reranking: the weight of the captions' agreement against the model's score (default: the index's)",
      nonNegative('--consensus-weight'),
    )
    .option(
      '--consensus-bleu-weight <w>',
      "consensus reranking: the weight of the captions' agreement in BLEU-4 (default: the index's)",
      nonNegative('--consensus-bleu-weight'),
    );
}

export interface ConsensusFlags {
  /** false with --no-consensus. */
  consensus?: boolean;
  consensusK?: number;
  consensusWeight?: number;
  consensusBleuWeight?: number;
}

/** The loader's `consensus` option from the flags. */
export function consensusOption(
  flags: ConsensusFlags,
): boolean | { k?: number; weight?: number; bleuWeight?: number } {
  if (flags.consensus === false) return false;
  const { consensusK: k, consensusWeight: weight, consensusBleuWeight: bleuWeight } = flags;
  if (k === undefined && weight === undefined && bleuWeight === undefined) return true;
  return { k, weight, bleuWeight };
}
