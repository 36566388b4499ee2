import type { MergeConfig } from './merge.js';
import { MERGE_PARAMS as P } from './merge.js';
import { mergeInputTable } from './merge-step-decoder.js';
import type { ParamLayout } from './params.js';
import { FEATURES, GraphBuilder, NEXT, TOKENS, type StepGraphPart } from './step-graph.js';

/**
 * The merge model as ONNX graphs, the same computation as MergeStepDecoder: the start graph projects
 * the image (relu(features·W + b)); a step looks up the token's row of the input table, runs the LSTM
 * cell, adds the image projection, then Dense(relu) and the output layer.
 */
export function mergeStepGraph(
  c: MergeConfig,
  layout: ParamLayout,
  flat: Float32Array,
  prefix: string,
): StepGraphPart {
  const U = c.units;
  const D = c.decoderUnits;
  const V = c.vocabSize;
  const w = (name: string) => layout.view(flat, name);
  const [image, h, cell] = ['image', 'h', 'c'].map((n) => prefix + n);

  const start = new GraphBuilder(prefix);
  const projected = start.one('MatMul', [
    FEATURES,
    start.weight(P.imageKernel, [c.featureDim, U], w(P.imageKernel)),
  ]);
  start.one(
    'Relu',
    [start.one('Add', [projected, start.weight(P.imageBias, [U], w(P.imageBias))])],
    undefined,
    image,
  );

  const step = new GraphBuilder(prefix);
  const table = step.weight('input_table', [V, 4 * U], mergeInputTable(c, layout, flat));
  const recurrent = step.weight(P.lstmRecurrent, [U, 4 * U], w(P.lstmRecurrent));
  const gates = step.one('Add', [
    step.one('Gather', [table, TOKENS], { axis: 0 }),
    step.one('MatMul', [h, recurrent]),
  ]);
  // Gate order i, f, g, o (PyTorch's), equal quarters.
  const [gi, gf, gg, go] = step.op('Split', [gates], {
    attrs: { axis: 1 },
    outputs: ['i', 'f', 'g', 'o'].map((g) => `${prefix}gate_${g}`),
  });
  const [i, f, o] = [gi, gf, go].map((g) => step.one('Sigmoid', [g]));
  const g = step.one('Tanh', [gg]);
  const cNext = step.one(
    'Add',
    [step.one('Mul', [f, cell]), step.one('Mul', [i, g])],
    undefined,
    cell + NEXT,
  );
  const hNext = step.one('Mul', [o, step.one('Tanh', [cNext])], undefined, h + NEXT);
  const merged = step.one('Add', [hNext, image]);
  const hidden = step.one('Relu', [
    step.one('Add', [
      step.one('MatMul', [merged, step.weight(P.decoderKernel, [U, D], w(P.decoderKernel))]),
      step.weight(P.decoderBias, [D], w(P.decoderBias)),
    ]),
  ]);
  const logits = step.one('Add', [
    step.one('MatMul', [hidden, step.weight(P.outputKernel, [D, V], w(P.outputKernel))]),
    step.weight(P.outputBias, [V], w(P.outputBias)),
  ]);

  return {
    start,
    step,
    states: [
      { name: image, width: U, init: 'start', constant: true },
      { name: h, width: U, init: 'zeros', constant: false },
      { name: cell, width: U, init: 'zeros', constant: false },
    ],
    logits,
  };
}
