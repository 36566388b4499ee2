import type { Graph, Value } from '../graph/ir.js';

/**
 * What a model's forward code asks of the graph it is built into. Training gives its weights as graph
 * inputs and dropout as masks; decoding gives constant weights and no dropout. The model code is the
 * same for both: it cannot tell which graph it is written into.
 */
export interface ModelScope {
  readonly g: Graph;
  /** The weight `name` of the architecture's `params` list. */
  param(name: string): Value;
  /**
   * Inverted dropout at a named site: x ⊙ mask, the mask 0 or 1/(1−rate) per element, drawn per row
   * from the row's seed; the identity when not training or when `rate` is 0.
   */
  dropout(x: Value, rate: number, site: string): Value;
}
