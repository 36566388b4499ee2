import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
type GraphProto = onnxProto.onnx.GraphProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;

/*
 * Why this exists. On x86 CPUs with AVX2 but no VNNI (the development machine, and many servers),
 * onnxruntime runs a QLinearConv with uint8 activations and int8 weights through `vpmaddubsw`: the
 * products of each pair of neighbouring k (in the im2col order: kernel row, kernel column, channel)
 * are added in 16 bits, with saturation, before the 32-bit sum:
 *
 *   acc = Σ_j sat16(a[2j]·w[2j] + a[2j+1]·w[2j+1]) − zeroPoint(a)·Σ w        (a: the raw uint8 values)
 *
 * WebAssembly (and VNNI CPUs) compute the exact sum. With the zoo's MobileNetV2 int8 the difference is
 * large: a fifth of the stem's outputs differ, the pooled features move by about 35 % (relative L1),
 * and the captioner's decoder, trained on features from the saturating kernels, then writes another
 * caption for most photos. So the bundle's encoder computes what the server computes, in standard
 * operators: a rewritten QLinearConv is an exact convolution in float (integer-valued, exact below
 * 2^24), plus the saturation's correction Σ_j (clip(p_j, −2^15, 2^15 − 1) − p_j) over the pairs that
 * saturate, then onnxruntime's requantization (float(acc + bias) · scale, rounded half to even, plus the
 * zero point). Tests check the result against onnxruntime-node bit for bit.
 *
 * Which pairs: a pair can saturate only when its two weights have the same sign and |w0 + w1| ≥ 129
 * (a ≤ 255), about 5 % of MobileNetV2's pairs; correcting them all is exact for every photo but makes
 * the encoder 2–3 times slower in WebAssembly. Far fewer saturate on real photos (about 2,000 of 32,000,
 * mostly in the stem and the expansion layers): `calibrated` pairs, measured over photos by
 * `findSaturatingPairs`, keep the encoder nearly as fast as the plain one, and exact except on a photo
 * that saturates a pair no calibration photo did (the features then move by a hair).
 *
 * The same rewrite without any pair (`everyLayer`, no pairs) is what the bundle ships on machines whose
 * onnxruntime computes exactly: onnxruntime-web runs its float convolutions on all its threads and its
 * int8 ones on one, so the exact float form is the faster way to the same features.
 */

/**
 * Pairs measured on photos, by QLinearConv index (graph order): [output channel, first k of the pair,
 * peak], the peak being the pair's largest |sum| seen, as a fraction of the 16-bit limit (above 1: it
 * saturated).
 */
export type SaturatingPairs = Record<number, [number, number, number][]>;

export interface EmulationOptions {
  /** 'all' pairs that can saturate (exact, slower), or measured ones (default 'all'). */
  pairs?: 'all' | SaturatingPairs;
  /** With measured pairs: correct those whose peak reached this (default 0.9: a margin for other photos). */
  margin?: number;
  /** Layers (QLinearConv indices) whose every pair that can saturate is corrected anyway (default [0], the stem). */
  exactLayers?: number[];
  /**
   * Also compute the depthwise convolutions in float (exactly what onnxruntime computes: they do not
   * saturate), which onnxruntime-web runs faster than its int8 kernel between float layers (default true).
   */
  depthwise?: boolean;
  /**
   * Rewrite the layers without a pair to correct as well (exact float convolutions): onnxruntime-web
   * spreads its float convolutions over its threads but not its int8 ones (default false).
   */
  everyLayer?: boolean;
  /** With `everyLayer`: layers with more weights than this stay int8 where no pair needs them rewritten. */
  maxFloatWeights?: number;
}

/** Rewrites an encoder so that WebAssembly computes what onnxruntime's AVX2 kernels compute. */
export function emulateU8S8Saturation(
  modelBytes: Uint8Array,
  options: EmulationOptions = {},
): { bytes: Uint8Array; layers: number; pairs: number } {
  const model: Model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph as GraphProto;
  const init = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const nodes: NodeProto[] = [];
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const INT32 = onnx.TensorProto.DataType.INT32;
  let layers = 0;
  let corrected = 0;
  let id = 0;
  const fresh = (hint: string) => `u8s8_${id++}_${hint}`;
  const constant = (hint: string, dataType: number, dims: number[], data: ArrayBufferView): string => {
    const name = fresh(hint);
    const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    graph.initializer.push(onnx.TensorProto.create({ name, dataType, dims, rawData }));
    return name;
  };
  const node = (
    opType: string,
    input: string[],
    attrs: Record<string, number | number[]> = {},
    hint = opType,
  ) => {
    const output = fresh(hint.toLowerCase());
    const attribute = Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v)
        ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
        : { name, type: onnx.AttributeProto.AttributeType.INT, i: v },
    );
    nodes.push({ opType, input, output: [output], attribute });
    return output;
  };
  const scalar = (hint: string, v: number) => constant(hint, FLOAT, [], Float32Array.of(v));

  let index = -1;
  for (const n of graph.node) {
    if (n.opType !== 'QLinearConv' || n.domain) {
      nodes.push(n);
      continue;
    }
    index++;
    const conv = readConv(n, init, { depthwise: options.depthwise ?? true });
    const wanted = options.pairs ?? 'all';
    const margin = options.margin ?? 0.9;
    const pairs = !conv
      ? []
      : wanted === 'all' || (options.exactLayers ?? [0]).includes(index)
        ? saturablePairs(conv)
        : (wanted[index] ?? []).filter(([, , peak]) => peak >= margin).map(([co, k]) => pairAt(conv, co, k));
    const rewrite =
      options.everyLayer && (conv?.w.length ?? 0) <= (options.maxFloatWeights ?? Number.POSITIVE_INFINITY);
    if (!conv || (conv.group === 1 && pairs.length === 0 && !rewrite)) {
      nodes.push(n); // no pair to correct: onnxruntime's own kernel computes the same everywhere
      continue;
    }
    layers++;
    corrected += pairs.length;
    const { Co, C, kh, kw, attrs, xz, w, bias, scale, yz, group } = conv;
    const [x] = n.input!;
    // x − zero point in float, in one pass (a DequantizeLinear with scale 1 is exact): zero-padding
    // these = padding with the zero point.
    const xc = node(
      'DequantizeLinear',
      [x, scalar('one', 1), constant('xz', onnx.TensorProto.DataType.UINT8, [], Uint8Array.of(xz))],
      {},
      'xc',
    );
    const wf = node(
      'Cast',
      [constant('w', onnx.TensorProto.DataType.INT8, [Co, C / group, kh, kw], w)],
      { to: FLOAT },
      'wf',
    );
    // Σ (a − za)·w + bias, [1, Co, OH, OW]: integers all along (the bias is int32), so exact in float
    // below 2^24 in any order of summation (hence with the correction added after the bias).
    let total = node('Conv', [xc, wf, constant('bias', FLOAT, [Co], bias)], { ...attrs, group }, 'acc');
    if (pairs.length > 0) total = correct(conv, pairs, x, xc, total);
    // × scale: the float32 product, rounded once, as onnxruntime's requantization computes it. The
    // scale is the Mul's first input: onnxruntime's Conv–Mul fusion, which would fold it into the
    // convolution's weights and so round differently, takes only a Mul whose second input is constant.
    const scaled = node('Mul', [constant('scale', FLOAT, [1, Co, 1, 1], scale), total], {}, 'scaled');
    nodes.push({
      opType: 'QuantizeLinear',
      input: [
        scaled,
        scalar('one', 1),
        constant('yz', onnx.TensorProto.DataType.UINT8, [], Uint8Array.of(yz)),
      ],
      output: n.output,
    });
  }

  /** `acc` plus the saturation's correction Σ (clip(p) − p) over `pairs`. */
  function correct(conv: ConvParams, pairs: Pair[], x: string, xc: string, acc: string): string {
    const { Co, C, kh, kw, K, attrs, xz } = conv;
    // The activations each k reads at each output position, [K, OH·OW]: the channels themselves for a
    // 1×1 convolution with stride 1, else an im2col by a one-hot convolution.
    const pointwise =
      kh === 1 && kw === 1 && attrs.strides.every((s) => s === 1) && attrs.pads.every((p) => p === 0);
    let planes: string;
    if (pointwise) planes = node('Cast', [x], { to: FLOAT }, 'planes');
    else {
      const onehot = new Float32Array(K * C * kh * kw);
      for (let ky = 0; ky < kh; ky++)
        for (let kx = 0; kx < kw; kx++)
          for (let c = 0; c < C; c++) onehot[(((ky * kw + kx) * C + c) * C + c) * kh * kw + ky * kw + kx] = 1;
      const im2col = constant('im2col', FLOAT, [K, C, kh, kw], onehot);
      const cols = node('Conv', [xc, im2col], { ...attrs, group: 1 }, 'cols');
      planes = node('Add', [cols, scalar('xz', xz)], {}, 'planes');
    }
    const flat = node(
      'Reshape',
      [planes, constant('shape', INT64, [2], BigInt64Array.of(BigInt(K), -1n))],
      {},
      'flat',
    );

    // The pairs sorted by output channel, one row each (no padding); each channel's sum is the difference
    // of a running sum, in int32 (exact: float would round sums past 2^24).
    const sorted = [...pairs].sort((a, b) => a.co - b.co || a.k0 - b.k0);
    const N = sorted.length;
    const channels = [...new Set(sorted.map((p) => p.co))];
    const A = channels.length;
    const row = new Map(channels.map((co, i) => [co, i]));
    const starts = new BigInt64Array(A);
    const ends = new BigInt64Array(A);
    sorted.forEach((p, i) => {
      const c = row.get(p.co)!;
      if (i === 0 || sorted[i - 1].co !== p.co) starts[c] = BigInt(i);
      ends[c] = BigInt(i + 1);
    });
    const term = (which: 0 | 1) =>
      node('Mul', [
        node(
          'Gather',
          [
            flat,
            constant(
              `k${which}`,
              INT64,
              [N],
              BigInt64Array.from(sorted, (p) => BigInt(which ? p.k1 : p.k0)),
            ),
          ],
          {
            axis: 0,
          },
        ),
        constant(
          `w${which}`,
          FLOAT,
          [N, 1],
          Float32Array.from(sorted, (p) => (which ? p.w1 : p.w0)),
        ),
      ]);
    const p = node('Add', [term(0), term(1)], {}, 'pair'); // [N, OH·OW]
    const clipped = node('Clip', [p, scalar('lo', -32768), scalar('hi', 32767)]);
    const excess = node('Cast', [node('Sub', [clipped, p], {}, 'excess')], { to: INT32 });
    const running = node('CumSum', [excess, constant('axis', INT32, [], Int32Array.of(0))], {}, 'running');
    const zeroFirst = node('Pad', [running, constant('pads', INT64, [4], BigInt64Array.of(1n, 0n, 0n, 0n))]);
    const sums = node('Sub', [
      node('Gather', [zeroFirst, constant('ends', INT64, [A], ends)], { axis: 0 }),
      node('Gather', [zeroFirst, constant('starts', INT64, [A], starts)], { axis: 0 }),
    ]);
    let correction = node('Cast', [sums], { to: FLOAT }, 'correction'); // [A, OH·OW]
    if (A < Co) {
      // Back to all Co channels: a zero row for the channels without pairs.
      const padded = node('Pad', [
        correction,
        constant('pads', INT64, [4], BigInt64Array.of(1n, 0n, 0n, 0n)),
      ]);
      const map = BigInt64Array.from({ length: Co }, (_, co) => BigInt(row.has(co) ? row.get(co)! + 1 : 0));
      correction = node('Gather', [padded, constant('rows', INT64, [Co], map)], { axis: 0 }, 'expand');
    }
    return node('Add', [acc, node('Reshape', [correction, node('Shape', [acc])])], {}, 'saturated');
  }

  graph.node = nodes as onnxProto.onnx.NodeProto[];
  // Drop what only the rewritten nodes read (their int8 weights are copied into the new ones).
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? ''));
  // (ReduceSum takes its axes as an attribute up to opset 12, the zoo model's opset: it is kept.)
  return { bytes: onnx.ModelProto.encode(model).finish(), layers, pairs: corrected };
}

/** A QLinearConv's parameters, for the rewrite and the calibration. */
export interface ConvParams {
  /** 1, or Co for a depthwise convolution. */
  group: number;
  Co: number;
  C: number;
  kh: number;
  kw: number;
  /** C·kh·kw: the length of the im2col vectors. */
  K: number;
  attrs: { pads: number[]; strides: number[]; dilations: number[]; kernel_shape: number[] };
  xz: number;
  /** int8 weights [Co, C / group, kh, kw]. */
  w: Int8Array;
  bias: Float32Array;
  /** onnxruntime's requantization scale per output channel, in float32 as it computes it. */
  scale: Float32Array;
  yz: number;
}

export interface Pair {
  co: number;
  k0: number;
  k1: number;
  w0: number;
  w1: number;
}

/** The parameters of an ungrouped QLinearConv with int8 weights and zero weight zero points, else undefined. */
export function readConv(
  n: NodeProto,
  init: Map<string, TensorProto>,
  options: { depthwise?: boolean } = {},
): ConvParams | undefined {
  const [, xsName, xzName, wName, wsName, wzName, ysName, yzName, bName] = n.input ?? [];
  const t = (name: string | undefined) => (name ? init.get(name) : undefined);
  const wt = t(wName);
  if (!wt || wt.dataType !== onnx.TensorProto.DataType.INT8) return undefined;
  if (!t(xsName) || !t(xzName) || !t(wsName) || !t(ysName)) return undefined;
  const attr = (name: string) => n.attribute?.find((a) => a.name === name);
  const group = Number(attr('group')?.i ?? 1);
  const [Co, Cg, kh, kw] = (wt.dims ?? []).map(Number);
  // Depthwise convolutions never saturate (onnxruntime sums their taps exactly): taken only when asked.
  if (group !== 1 && !(options.depthwise && Cg === 1 && group === Co)) return undefined;
  const C = Cg * group;
  if (t(wzName) && values(t(wzName)!).some((v) => v !== 0)) return undefined;
  const ints = (name: string, fallback: number[]) => {
    const v = attr(name)?.ints;
    return v && v.length > 0 ? v.map(Number) : fallback;
  };
  const attrs = {
    pads: ints('pads', [0, 0, 0, 0]),
    strides: ints('strides', [1, 1]),
    dilations: ints('dilations', [1, 1]),
    kernel_shape: ints('kernel_shape', [kh, kw]),
  };
  if (attrs.dilations.some((d) => d !== 1)) return undefined;
  const xs = values(t(xsName)!)[0];
  const ws = values(t(wsName)!);
  const ys = values(t(ysName)!)[0];
  const b = t(bName) ? values(t(bName)!) : new Array<number>(Co).fill(0);
  return {
    group,
    Co,
    C,
    kh,
    kw,
    K: C * kh * kw,
    attrs,
    xz: values(t(xzName)!)[0],
    w: int8Values(wt),
    bias: Float32Array.from(b),
    scale: Float32Array.from({ length: Co }, (_, co) =>
      Math.fround(Math.fround(xs * (ws.length > 1 ? ws[co] : ws[0])) / ys),
    ),
    yz: t(yzName) ? values(t(yzName)!)[0] : 0,
  };
}

/** The weight of output channel `co` at im2col position k (kernel row, kernel column, channel); 0 past K. */
export function weightAt(c: ConvParams, co: number, k: number): number {
  if (k >= c.K) return 0;
  const ch = k % c.C;
  const tap = Math.floor(k / c.C);
  return c.w[((co * c.C + ch) * c.kh + Math.floor(tap / c.kw)) * c.kw + (tap % c.kw)];
}

export function pairAt(c: ConvParams, co: number, k: number): Pair {
  return { co, k0: k, k1: Math.min(k + 1, c.K - 1), w0: weightAt(c, co, k), w1: weightAt(c, co, k + 1) };
}

/** Every pair that can saturate: same-sign weights with |w0 + w1| ≥ 129 (the activations are at most 255). */
export function saturablePairs(c: ConvParams): Pair[] {
  const out: Pair[] = [];
  if (c.group !== 1) return out;
  for (let co = 0; co < c.Co; co++)
    for (let k = 0; k < c.K; k += 2) {
      const p = pairAt(c, co, k);
      if ((p.w0 >= 0 && p.w1 >= 0 && p.w0 + p.w1 >= 129) || (p.w0 <= 0 && p.w1 <= 0 && p.w0 + p.w1 <= -129))
        out.push(p);
    }
  return out;
}

/**
 * An int8 tensor's values as a typed array (a copy). Not through `values`: spreading a convolution's
 * weights into a number array cost the bundle's build half a second.
 */
function int8Values(t: TensorProto): Int8Array {
  if (t.rawData && t.rawData.length > 0)
    return Int8Array.from(new Int8Array(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length));
  return Int8Array.from(t.int32Data ?? []);
}

/** A tensor's values as numbers, from raw data or the typed fields. */
export function values(t: TensorProto): number[] {
  const T = onnx.TensorProto.DataType;
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData); // a copy: a decoded Buffer's slice() would share the whole file
    switch (t.dataType) {
      case T.FLOAT:
        return [...new Float32Array(copy.buffer)];
      case T.UINT8:
        return [...copy];
      case T.INT8:
        return [...new Int8Array(copy.buffer)];
      case T.INT32:
        return [...new Int32Array(copy.buffer)];
    }
    throw new Error(`u8s8 emulation: tensor ${t.name} has data type ${t.dataType}`);
  }
  if (t.dataType === T.FLOAT) return [...(t.floatData ?? [])];
  return [...(t.int32Data ?? [])];
}
