import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DANGLING_WORDS, defaultMaxLength } from '../decode/caption-rules.js';
import { END, PAD, START, UNK } from '../data/vocabulary.js';
import {
  buildDecodeGraphs,
  FEATURES,
  LOG_PROBS,
  NEXT,
  TOKENS,
  type DecoderWeights,
} from '../model/decode-graphs.js';
import { anyIntegerProducts } from '../graph/passes.js';
import type { StateSpec } from '../model/architecture.js';
import { readConsensusIndex } from '../model/consensus-file.js';
import { loadModel, type LoadedModel } from '../model/model-folder.js';
import { defaultModelDir } from '../pipeline/load-captioner.js';
import { readModelCard } from '../pipeline/model-card.js';
import { Session } from '../runtime/onnx.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import { ensureAsset } from '../vision/assets.js';
import { findEncoderSpec } from '../vision/encoders.js';
import { exposeFeatureOutputs } from '../vision/onnx-graph.js';
import { bundleReadme } from './bundle-readme.js';
import {
  BUNDLE_FILES,
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  type BundleConfig,
  type BundleGraph,
  type BundleTensor,
} from './bundle-format.js';
import { bundleEncoderGraph } from './encoder-graph.js';
import { emulateU8S8Saturation } from './u8s8-emulation.js';
import { hostSaturatesU8S8 } from './u8s8-host.js';
import { CALIBRATED_PAIRS } from './u8s8-pairs.js';

export interface BuildBundleOptions {
  /** Model folder (default: the bundled model). */
  model?: string;
  /** Encoder registry name or .onnx path (default: the model's own; it must be the one it was trained on). */
  encoder?: string;
  /** Also expose the encoder's spatial map (attention models read it). */
  spatial?: boolean;
  /** Keep Q8 weights int8 in the graphs (default true); false writes float32 weights. */
  int8?: boolean;
  /** Download a registry encoder that is not found locally (default unless CAPTIONER_OFFLINE=1). */
  download?: boolean;
  /**
   * The int8 encoder's arithmetic (see u8s8-emulation.ts): 'calibrated' reproduces what onnxruntime's
   * AVX2 kernels compute (the features the bundled models were trained on) for the pairs that saturate
   * on real photos; 'all' for every pair that can (exact, slower); 'none' leaves the graph as it is
   * (exact int8 arithmetic, as WebAssembly, VNNI and ARM CPUs compute it). Default: what this machine's
   * onnxruntime computes ('calibrated' on x86 without VNNI, else 'none'; see u8s8-host.ts).
   */
  u8s8?: 'calibrated' | 'all' | 'none';
}

/** A bundle in memory: its config and every file by name (config.json and README.md included). */
export interface Bundle {
  config: BundleConfig;
  files: Map<string, Uint8Array>;
}

/**
 * Everything a browser (or onnxruntime in Python, C#, Java) needs to caption a photo without this
 * package: the encoder graph, the decoder's start and step graphs (an ensemble folded into each), the
 * preprocessing, the vocabulary and the decoding defaults.
 */
export async function buildBundle(options: BuildBundleOptions = {}): Promise<Bundle> {
  const dir = resolve(options.model ?? defaultModelDir());
  const model = await loadModel(dir);
  const identity = model.config.encoder;
  if (!identity && !options.encoder)
    throw new CaptionerError(
      'MODEL_INVALID',
      `model ${dir} records no encoder (trained on synthetic features?)`,
    );
  const encoderBytes = await readEncoder(options.encoder ?? identity!.name, options.download);
  const sha256 = sha256Of(encoderBytes);
  if (identity && sha256 !== identity.sha256)
    throw new CaptionerError(
      'ENCODER_MISMATCH',
      `model ${dir} was trained on ${identity.name} (sha256 ${identity.sha256.slice(0, 12)}…), not on the encoder given (${sha256.slice(0, 12)}…)`,
    );
  const spec = findEncoderSpec(options.encoder ?? identity!.name);
  const preprocessing: BundleConfig['preprocessing'] = {
    inputSize: identity?.inputSize ?? spec?.inputSize ?? [224, 224],
    resize: 'squash',
    resampling: 'lanczos3',
    orientation: 'exif',
    background: [255, 255, 255],
    colorSpace: 'srgb',
    layout: 'NCHW',
    scale: 1 / 255,
    mean: identity?.mean ?? spec?.mean ?? [0.485, 0.456, 0.406],
    std: identity?.std ?? spec?.std ?? [0.229, 0.224, 0.225],
  };

  const members = (model.members ?? [model]).map((m) => decoderWeights(m, options.int8 ?? true));
  // The bundle decodes as the captioner does, integer products included when the model asks for them,
  // so that it writes the server's captions everywhere. They are written in standard float operators
  // that compute the same numbers (integersInFloats): onnxruntime-web's integer kernels are slower than
  // its float ones (a step of the default, its int8 output layer in integers: 4.7 ms against 3.4).
  const integerProducts = (options.int8 ?? true) ? (model.config.decoding?.integerProducts ?? false) : false;
  const graphs = buildDecodeGraphs(members, { integerProducts, integersInFloats: true });
  // An attention model reads the spatial map ([channels, regions] after the rows), a merge model the pooled vector.
  const startShape = (graphs as { startShape?: number[] }).startShape ?? [graphs.featureDim];
  const reads = startShape.length > 1 ? 'spatial' : 'features';

  const plain = bundleEncoderGraph(exposeFeatureOutputs(encoderBytes, 'the encoder'), {
    spatial: options.spatial || reads === 'spatial',
  });
  // By default the arithmetic of this machine's onnxruntime: the captions of the server beside it.
  const mode = options.u8s8 ?? (hostSaturatesU8S8() ? 'calibrated' : 'none');
  const calibrated = CALIBRATED_PAIRS[sha256];
  // The int8 convolutions are written as exact float convolutions of integer values, whatever the
  // mode: onnxruntime-web spreads its float convolutions over its threads and not its int8 ones, and the
  // features stay the server's bit for bit. All but the 7×7 layers with over 64K weights (three quarters
  // of the weights, a third of the work): as floats they would double the weights the page folds and
  // copies at its start, for no faster encoder (Chromium, 2 threads: ~20 ms either way, int8 ~45).
  const byCalibration = mode === 'calibrated' ? calibrated : undefined;
  const emulated = emulateU8S8Saturation(plain.bytes, {
    pairs: mode === 'none' ? {} : (byCalibration?.pairs ?? 'all'),
    ...(mode === 'none' ? { exactLayers: [] } : {}),
    everyLayer: true,
    maxFloatWeights: 65_536,
  });
  const encoder = { ...plain, bytes: emulated.bytes };
  const u8s8: BundleConfig['encoder']['u8s8'] = {
    emulation: mode === 'none' ? 'none' : byCalibration ? 'calibrated' : 'all',
    layers: emulated.layers,
    pairs: emulated.pairs,
    ...(byCalibration ? { calibrationPhotos: byCalibration.photos } : {}),
  };
  const [h, w] = preprocessing.inputSize;
  const probed = await probe(encoder.bytes, encoder.input, [h, w], Object.values(encoder.outputs));
  const featureDim = probed[encoder.outputs.features][1];
  const given = probed[reads === 'spatial' ? encoder.outputs.spatial! : encoder.outputs.features].slice(1);
  if (given.reduce((a, b) => a * b, 1) !== graphs.featureDim)
    throw new CaptionerError(
      'ENCODER_MISMATCH',
      `the encoder gives ${reads} of shape [${given.join(', ')}] but the model reads [${startShape.join(', ')}]`,
    );
  const V = graphs.vocabSize;
  // A state that is not a vector (attention's regions × channels) keeps its shape after the rows.
  const rowsOf = (s: StateSpec, perImage = false): (number | string)[] => [
    perImage && s.constant ? 'images' : 'rows',
    ...((s as { shape?: number[] }).shape ?? [s.width]),
  ];
  const tensor = (
    name: string,
    type: BundleTensor['type'],
    dims: BundleTensor['dims'],
    description: string,
  ) => ({
    name,
    type,
    dims,
    description,
  });
  const start: BundleGraph | undefined = graphs.start && {
    file: BUNDLE_FILES.start,
    inputs: [
      tensor(
        FEATURES,
        'float32',
        ['rows', ...startShape],
        reads === 'spatial'
          ? "the encoder's spatial map, regions flattened, one row per photo"
          : "the encoder's features, one row per photo",
      ),
    ],
    outputs: graphs.states
      .filter((s) => s.init === 'start')
      .map((s) => tensor(s.name, 'float32', rowsOf(s), 'decoder state computed from the photo')),
  };
  const step: BundleGraph = {
    file: BUNDLE_FILES.step,
    inputs: [
      tensor(TOKENS, 'int32', ['rows'], 'the previous word of each row (<start> = 1 at the first step)'),
      ...graphs.states.map((s) =>
        tensor(
          s.name,
          'float32',
          rowsOf(s, graphs.constantsPerImage),
          s.constant
            ? 'from the start graph, the same at every step, one row per image'
            : s.init === 'zeros'
              ? 'zeros at the first step, then the last step’s ' + s.name + NEXT
              : 'from the start graph at the first step, then the last step’s ' + s.name + NEXT,
        ),
      ),
    ],
    outputs: [
      tensor(
        LOG_PROBS,
        'float32',
        ['rows', V],
        'log-probability of every next word (ensemble: log of the mean)',
      ),
      ...graphs.states
        .filter((s) => !s.constant)
        .map((s) => tensor(s.name + NEXT, 'float32', rowsOf(s), `${s.name} after this step`)),
    ],
  };

  const consensus = await readConsensusIndex(dir, identity?.sha256);
  const card = await readModelCard(model, { consensus });
  const { description: _description, ...cardFields } = card;
  const files = new Map<string, Uint8Array>([[BUNDLE_FILES.encoder, encoder.bytes]]);
  if (graphs.start) files.set(BUNDLE_FILES.start, graphs.start);
  files.set(BUNDLE_FILES.step, graphs.step);
  if (consensus) files.set(BUNDLE_FILES.consensus, consensus.serialize());
  const config: BundleConfig = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    model: { ...cardFields, members: members.length, featureDim },
    preprocessing,
    encoder: {
      file: BUNDLE_FILES.encoder,
      source: { name: identity?.name ?? spec?.name ?? 'custom', sha256 },
      u8s8,
      inputs: [
        tensor(encoder.input, 'float32', ['N', 3, h, w], 'the photos, preprocessed (see preprocessing)'),
      ],
      outputs: [
        tensor(
          encoder.outputs.features,
          'float32',
          ['N', featureDim],
          'the pooled feature vector of each photo',
        ),
        ...(encoder.outputs.spatial
          ? [
              tensor(
                encoder.outputs.spatial,
                'float32',
                ['N', ...probed[encoder.outputs.spatial].slice(1)],
                'the last feature map before pooling',
              ),
            ]
          : []),
      ],
    },
    decoder: {
      reads,
      ...(start ? { start } : {}),
      step,
      states: graphs.states,
      ...(graphs.constantsPerImage ? { constantsPerImage: true } : {}),
      weights: members.some((m) => m.int8) ? 'int8' : 'float32',
      ...(anyIntegerProducts(integerProducts) ? { integerProducts } : {}),
    },
    vocabulary: { tokens: [...model.vocabulary.tokens], pad: PAD, start: START, end: END, unk: UNK },
    decoding: {
      beam: 3,
      lengthPenalty: model.config.decoding?.lengthPenalty ?? 0,
      maxLength: defaultMaxLength(model.config.maxCaptionLength),
      blockTrigrams: true,
      badEndings: true,
      danglingWords: [...DANGLING_WORDS],
      ...(consensus
        ? { consensus: { file: BUNDLE_FILES.consensus, ...consensus.settings, photos: consensus.count } }
        : {}),
    },
    files: [...files].map(([name, bytes]) => ({ name, bytes: bytes.length, sha256: sha256Of(bytes) })),
  };
  files.set(BUNDLE_FILES.readme, new TextEncoder().encode(bundleReadme(config)));
  files.set(BUNDLE_FILES.config, new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
  return { config, files };
}

/** Writes a bundle's files into `dir` (each atomically; config.json last, so it names files that are there). */
export async function writeBundle(dir: string, bundle: Bundle): Promise<void> {
  const names = [...bundle.files.keys()].filter((n) => n !== BUNDLE_FILES.config);
  for (const name of [...names, BUNDLE_FILES.config])
    await writeFileAtomic(join(dir, name), bundle.files.get(name)!);
}

/** A member's weights for the graphs; with `int8`, its Q8 matrices stay int8 in them. */
function decoderWeights(m: LoadedModel, int8: boolean): DecoderWeights {
  return { ...m, config: m.config.model, int8: int8 ? m.int8 : undefined };
}

async function readEncoder(nameOrPath: string, download?: boolean): Promise<Buffer> {
  const spec = findEncoderSpec(nameOrPath);
  const path = spec ? await ensureAsset(spec, { download }) : resolve(nameOrPath);
  try {
    return await readFile(path);
  } catch (error) {
    throw new CaptionerError(
      'ENCODER_NOT_FOUND',
      `cannot read encoder ${path}: ${errnoCode(error) ?? error}`,
    );
  }
}

/** Runs the encoder once on a blank image: the outputs' dimensions. */
async function probe(
  bytes: Uint8Array,
  input: string,
  [h, w]: [number, number],
  outputs: string[],
): Promise<Record<string, number[]>> {
  const session = await Session.create(bytes);
  try {
    const out = await session.run(
      { [input]: { data: new Float32Array(3 * h * w), dims: [1, 3, h, w] } },
      outputs,
    );
    return Object.fromEntries(outputs.map((name) => [name, out[name].dims.map(Number)]));
  } finally {
    await session.release();
  }
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
