import onnxProto from 'onnx-proto';
import { Session } from '../runtime/onnx.js';
import {
  readConv,
  saturablePairs,
  type ConvParams,
  type Pair,
  type SaturatingPairs,
} from './u8s8-emulation.js';

const { onnx } = onnxProto;

/**
 * The pairs that saturate on these photos in onnxruntime's AVX2 kernels (see u8s8-emulation.ts): runs
 * the encoder natively with every QLinearConv's input exposed, and evaluates each pair that can
 * saturate at every output position. `batches` are preprocessed photos, [3, h, w] floats each.
 */
export async function findSaturatingPairs(
  encoder: Uint8Array,
  input: string,
  [h, w]: [number, number],
  photos: AsyncIterable<Float32Array> | Iterable<Float32Array>,
  /** Keep the pairs that came this close to saturating, as a fraction of the 16-bit limit (default 0.85). */
  margin = 0.85,
): Promise<{ pairs: SaturatingPairs; photos: number; hits: number }> {
  const model = onnx.ModelProto.decode(encoder);
  const graph = model.graph as onnxProto.onnx.GraphProto;
  const init = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const layers: { index: number; conv: ConvParams; pairs: Pair[]; inputName: string; peak: Float64Array }[] =
    [];
  let index = -1;
  for (const n of graph.node) {
    if (n.opType !== 'QLinearConv' || n.domain) continue;
    index++;
    const conv = readConv(n, init);
    const pairs = conv ? saturablePairs(conv) : [];
    if (!conv || pairs.length === 0) continue;
    layers.push({ index, conv, pairs, inputName: n.input![0], peak: new Float64Array(pairs.length) });
    graph.output.push(
      onnx.ValueInfoProto.create({ name: n.input![0], type: { tensorType: { elemType: 2 } } }),
    );
  }
  const session = await Session.create(onnx.ModelProto.encode(model).finish(), { threads: 1 });
  let count = 0;
  let hits = 0;
  try {
    for await (const photo of photos) {
      count++;
      const out = await session.run(
        { [input]: { data: photo, dims: [1, 3, h, w] } },
        layers.map((l) => l.inputName),
      );
      for (const layer of layers) {
        const x = out[layer.inputName];
        hits += measurePairs(layer.conv, layer.pairs, x.data as Uint8Array, x.dims.map(Number), layer.peak);
      }
    }
  } finally {
    await session.release();
  }
  const pairs: SaturatingPairs = {};
  for (const layer of layers) {
    const kept = layer.pairs.flatMap((p, i) =>
      layer.peak[i] >= margin
        ? [[p.co, p.k0, Math.round(layer.peak[i] * 1000) / 1000] as [number, number, number]]
        : [],
    );
    if (kept.length > 0) pairs[layer.index] = kept;
  }
  return { pairs, photos: count, hits };
}

/**
 * Raises each pair's peak (its largest |sum| over this input, as a fraction of the 16-bit limit: above 1
 * it saturated); returns how many sums saturated.
 */
function measurePairs(
  c: ConvParams,
  pairs: Pair[],
  x: Uint8Array,
  [, C, H, W]: number[],
  peak: Float64Array,
): number {
  const [sh, sw] = c.attrs.strides;
  const [pt, pl, pb, pr] = c.attrs.pads;
  const OH = Math.floor((H + pt + pb - c.kh) / sh) + 1;
  const OW = Math.floor((W + pl + pr - c.kw) / sw) + 1;
  // The im2col plane of position k: what k reads at each output position (the zero point in the padding).
  const planes = new Map<number, Uint8Array>();
  const plane = (k: number) => {
    let p = planes.get(k);
    if (!p) {
      p = new Uint8Array(OH * OW);
      const ch = k % C;
      const tap = Math.floor(k / C);
      const ky = Math.floor(tap / c.kw);
      const kx = tap % c.kw;
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const iy = oy * sh - pt + ky;
          const ix = ox * sw - pl + kx;
          p[oy * OW + ox] = iy < 0 || iy >= H || ix < 0 || ix >= W ? c.xz : x[(ch * H + iy) * W + ix];
        }
      planes.set(k, p);
    }
    return p;
  };
  let hits = 0;
  pairs.forEach((pair, i) => {
    const a0 = plane(pair.k0);
    const a1 = pair.k1 !== pair.k0 ? plane(pair.k1) : undefined;
    let n = 0;
    let top = 0;
    for (let j = 0; j < a0.length; j++) {
      const v = a0[j] * pair.w0 + (a1 ? a1[j] * pair.w1 : 0);
      const r = v >= 0 ? v / 32767 : -v / 32768;
      if (r > top) top = r;
      if (r > 1) n++;
    }
    if (top > peak[i]) peak[i] = top;
    hits += n;
  });
  return hits;
}
