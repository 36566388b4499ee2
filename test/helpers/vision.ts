import { access } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { sharedDir } from '../../src/util/paths.js';

const { onnx } = onnxProto;

/** Points CAPTIONER_ASSET_PATH at ../shared/models when unset; returns the model path, or undefined if absent. */
export async function sharedEncoderPath(): Promise<string | undefined> {
  const models = join(sharedDir(), 'models');
  process.env.CAPTIONER_ASSET_PATH ??= models;
  const path = join(models, 'mobilenetv2-12-int8.onnx');
  try {
    await access(path);
    return path;
  } catch {
    return undefined;
  }
}

export const SKIP_NO_MODEL = `no encoder at ${join(sharedDir(), 'models')} (set CAPTIONER_SHARED)`;
export const flickrImages = () => join(sharedDir(), 'flickr8k', 'Images');

/** Flickr8k photos whose captions are about a dog (and that show one). */
export const DOG_PHOTOS = [
  '101654506_8eb26cfb60.jpg',
  '1012212859_01547e3f17.jpg',
  '1015584366_dfcec3c85a.jpg',
];

function tensor(name: string, dims: number[], fill: (i: number) => number) {
  const size = dims.reduce((a, b) => a * b, 1);
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    floatData: Array.from({ length: size }, (_, i) => fill(i)),
  });
}

/**
 * A tiny float ImageNet-style classifier on 3×16×16 input with unhelpful tensor names. 'gap': conv →
 * GlobalAveragePool → Flatten → Gemm → Softmax (ResNet-like). 'vgg': conv → MaxPool → Flatten → Gemm →
 * Relu → Gemm (no global pooling). 'none': Flatten → ReduceSum (no classifier at all).
 */
export function tinyClassifier(kind: 'gap' | 'vgg' | 'none'): Uint8Array {
  const C = 4;
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const inits = [tensor('w0', [C, 3, 3, 3], (i) => ((i % 7) - 3) / 10), tensor('b0', [C], () => 0.1)];
  const attr = (name: string, ints: number[]) =>
    onnx.AttributeProto.create({ name, ints, type: onnx.AttributeProto.AttributeType.INTS });
  nodes.push({
    opType: 'Conv',
    input: ['x', 'w0', 'b0'],
    output: ['t1'],
    attribute: [attr('pads', [1, 1, 1, 1])],
  });
  nodes.push({ opType: 'Relu', input: ['t1'], output: ['t2'] });
  const out = 'probs';
  if (kind === 'gap') {
    nodes.push({ opType: 'GlobalAveragePool', input: ['t2'], output: ['t3'] });
    nodes.push({ opType: 'Flatten', input: ['t3'], output: ['t4'] });
    inits.push(
      tensor('w1', [10, C], (i) => ((i % 5) - 2) / 3),
      tensor('b1', [10], () => 0),
    );
    nodes.push({
      opType: 'Gemm',
      input: ['t4', 'w1', 'b1'],
      output: ['t5'],
      attribute: [{ name: 'transB', i: 1, type: 2 }],
    });
    nodes.push({ opType: 'Softmax', input: ['t5'], output: [out] });
  } else if (kind === 'vgg') {
    const pool = [attr('kernel_shape', [2, 2]), attr('strides', [2, 2])];
    nodes.push({ opType: 'MaxPool', input: ['t2'], output: ['t3'], attribute: pool });
    nodes.push({ opType: 'Flatten', input: ['t3'], output: ['t4'] });
    inits.push(
      tensor('w1', [C * 64, 6], (i) => ((i % 9) - 4) / 50),
      tensor('b1', [6], () => 0.01),
    );
    nodes.push({ opType: 'Gemm', input: ['t4', 'w1', 'b1'], output: ['t5'] });
    nodes.push({ opType: 'Relu', input: ['t5'], output: ['t6'] });
    inits.push(
      tensor('w2', [6, 10], (i) => ((i % 3) - 1) / 2),
      tensor('b2', [10], () => 0),
    );
    nodes.push({ opType: 'Gemm', input: ['t6', 'w2', 'b2'], output: [out] });
  } else {
    nodes.push({ opType: 'Flatten', input: ['t2'], output: ['t3'] });
    nodes.push({ opType: 'ReduceSum', input: ['t3'], output: [out] });
  }
  const valueInfo = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 12 }],
    graph: {
      name: `tiny-${kind}`,
      node: nodes,
      initializer: inits,
      input: [valueInfo('x', ['N', 3, 16, 16])],
      output: [valueInfo(out, ['N', 10])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
