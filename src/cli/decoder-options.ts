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
