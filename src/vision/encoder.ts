import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, extname, resolve } from 'node:path';
import { Session } from '../runtime/onnx.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import { ensureAsset } from './assets.js';
import { decodeImage, type DecodedImage, type DecodeOptions } from './decode-image.js';
import type { EncoderIdentity } from './encoder-identity.js';
import { CUSTOM_ENCODER_DEFAULTS, DEFAULT_ENCODER, ENCODERS, findEncoderSpec } from './encoders.js';
import { exposeFeatureOutputs, type EditedModel } from './onnx-graph.js';
import { fillPlanar, normalizationTable } from './preprocess.js';

import type { ImageInput } from './image-input.js';

export type { ImageInput };

export interface EncodeOptions {
  /** Also return the spatial maps (C×H×W each). */
  spatial?: boolean;
  /** Also return the ImageNet logits. */
  logits?: boolean;
}

export interface EncodeResult {
  /** One vector of `identity.pooledDim` values per input, in input order. */
  pooled: Float32Array[];
  /** With `spatial`: one C×H×W map per input (layout [C][H][W]). */
  spatial?: Float32Array[];
  logits?: Float32Array[];
}

/** A batch's outputs, image after image in one array each. */
export interface BatchOutputs {
  pooled: Float32Array;
  spatial?: Float32Array;
  logits?: Float32Array;
}

export interface LoadEncoderOptions {
  /** Threads for inference (default: all cores). */
  threads?: number;
  /** Download a registry encoder that is not found locally (default unless CAPTIONER_OFFLINE=1). */
  download?: boolean;
  /** Download progress bar. */
  progress?: boolean;
  /** Let onnxruntime's threads spin while waiting for work (default off: it steals the decoders' CPU). */
  spinning?: boolean;
}

export interface ImageEncoder {
  readonly identity: EncoderIdentity;
  /** [C, H, W] of the spatial map, when the model has one. */
  readonly spatialDims?: [number, number, number];
  readonly classes: number;
  /** Where the model was read from. */
  readonly modelPath: string;
  /** Decodes and encodes images (paths or file bytes); rejects with IMAGE_* CaptionerErrors. */
  encode(inputs: ImageInput[], options?: EncodeOptions): Promise<EncodeResult>;
  /** Decodes one image to the encoder's input size. */
  decode(input: ImageInput, options?: Partial<DecodeOptions>): Promise<DecodedImage>;
  /** Writes a decoded image, normalised, into slot `slot` of an NCHW batch. */
  fill(image: DecodedImage, batch: Float32Array, slot: number): void;
  /** Runs the network on the first `count` images of an NCHW batch. */
  run(batch: Float32Array, count: number, options?: EncodeOptions): Promise<BatchOutputs>;
  dispose(): Promise<void>;
}

/** The largest batch `encode` sends to the network at once. */
const ENCODE_CHUNK = 32;

/**
 * Loads an encoder by registry name (default mobilenetv2-int8) or .onnx path, verifies its sha256 and
 * edits its graph in memory to expose the pooled vector and the spatial map as float32 outputs.
 */
export async function loadEncoder(
  nameOrPath?: string,
  options: LoadEncoderOptions = {},
): Promise<ImageEncoder> {
  const { path, spec } = await resolveEncoder(nameOrPath ?? DEFAULT_ENCODER, options);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CaptionerError(
      'ENCODER_NOT_FOUND',
      `cannot read encoder ${path}: ${errnoCode(error) ?? error}`,
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (spec && sha256 !== spec.sha256)
    throw new CaptionerError(
      'ENCODER_CHECKSUM',
      `${path} has sha256 ${sha256}, not the expected ${spec.sha256} of ${spec.name}: delete it (it will be downloaded again) or replace it`,
    );
  const edited = exposeFeatureOutputs(bytes, path);
  const [h, w] = edited.inputDims.slice(2);
  const inputSize: [number, number] = spec?.inputSize ?? [
    h ?? CUSTOM_ENCODER_DEFAULTS.inputSize[0],
    w ?? CUSTOM_ENCODER_DEFAULTS.inputSize[1],
  ];
  let session: Session;
  try {
    session = await Session.create(edited.bytes, {
      threads: options.threads ?? availableParallelism(),
      spinning: options.spinning,
    });
  } catch (error) {
    throw new CaptionerError(
      'ENCODER_INVALID',
      `onnxruntime cannot load ${path}: ${(error as Error).message}`,
    );
  }
  const encoder = new OnnxImageEncoder(session, edited, path, {
    name: spec?.name ?? basename(path, extname(path)),
    sha256,
    inputSize,
    mean: [...(spec?.mean ?? CUSTOM_ENCODER_DEFAULTS.mean)],
    std: [...(spec?.std ?? CUSTOM_ENCODER_DEFAULTS.std)],
    resize: 'squash',
    pooledDim: 0,
  });
  await encoder.probe();
  return encoder;
}

async function resolveEncoder(nameOrPath: string, options: LoadEncoderOptions) {
  const spec = findEncoderSpec(nameOrPath);
  if (spec) return { path: await ensureAsset(spec, options), spec };
  if (nameOrPath.includes('/') || nameOrPath.endsWith('.onnx'))
    return { path: resolve(nameOrPath), spec: undefined };
  throw new CaptionerError(
    'ENCODER_UNKNOWN',
    `unknown encoder "${nameOrPath}": use one of ${ENCODERS.map((e) => e.name).join(', ')} or a path to an .onnx ImageNet classifier`,
  );
}

class OnnxImageEncoder implements ImageEncoder {
  spatialDims?: [number, number, number];
  classes = 0;
  private readonly lut: Float32Array;

  constructor(
    private readonly session: Session,
    private readonly model: EditedModel,
    readonly modelPath: string,
    readonly identity: EncoderIdentity,
  ) {
    // (v / 255 - mean) / std for every byte value and channel: the per-pixel work is one lookup.
    this.lut = normalizationTable(identity.mean, identity.std);
  }

  /** One run on a blank image: learns the output sizes and warms the session up. */
  async probe(): Promise<void> {
    const [h, w] = this.identity.inputSize;
    const out = await this.session.run(
      { [this.model.inputName]: { data: new Float32Array(3 * h * w), dims: [1, 3, h, w] } },
      [
        this.model.pooledOutput,
        this.model.logitsOutput,
        ...(this.model.spatialOutput ? [this.model.spatialOutput] : []),
      ],
    );
    const pooled = out[this.model.pooledOutput];
    if (pooled.dims.length !== 2)
      throw new CaptionerError(
        'ENCODER_UNSUPPORTED',
        `${this.modelPath}: the classifier's input has shape [${pooled.dims.join(', ')}], expected [N, D]`,
      );
    this.identity.pooledDim = Number(pooled.dims[1]);
    this.classes = out[this.model.logitsOutput].data.length;
    const spatial = this.model.spatialOutput ? out[this.model.spatialOutput] : undefined;
    if (spatial && spatial.dims.length === 4)
      this.spatialDims = spatial.dims.slice(1) as [number, number, number];
  }

  decode(input: ImageInput, options: Partial<DecodeOptions> = {}): Promise<DecodedImage> {
    const [height, width] = this.identity.inputSize;
    return decodeImage(input, { ...options, width, height });
  }

  fill(image: DecodedImage, batch: Float32Array, slot: number): void {
    const plane = image.width * image.height;
    const [h, w] = this.identity.inputSize;
    if (image.width !== w || image.height !== h)
      throw new Error(`image is ${image.width}×${image.height}, the encoder takes ${w}×${h}`);
    fillPlanar(image.data, 3, plane, this.lut, batch, slot);
  }

  async run(batch: Float32Array, count: number, options: EncodeOptions = {}): Promise<BatchOutputs> {
    const [h, w] = this.identity.inputSize;
    const size = 3 * h * w;
    if (batch.length < count * size)
      throw new Error(`batch holds ${batch.length / size} images, not ${count}`);
    if (options.spatial && !this.model.spatialOutput)
      throw new CaptionerError(
        'ENCODER_NO_SPATIAL',
        `${this.identity.name} has no spatial map before its classifier (no global pooling found)`,
      );
    const fetches = [this.model.pooledOutput];
    if (options.spatial) fetches.push(this.model.spatialOutput!);
    if (options.logits) fetches.push(this.model.logitsOutput);
    const input = { data: batch.subarray(0, count * size), dims: [count, 3, h, w] };
    const out = await this.session.run({ [this.model.inputName]: input }, fetches);
    return {
      pooled: out[this.model.pooledOutput].data as Float32Array,
      spatial: options.spatial ? (out[this.model.spatialOutput!].data as Float32Array) : undefined,
      logits: options.logits ? (out[this.model.logitsOutput].data as Float32Array) : undefined,
    };
  }

  async encode(inputs: ImageInput[], options: EncodeOptions = {}): Promise<EncodeResult> {
    const [h, w] = this.identity.inputSize;
    const size = 3 * h * w;
    const result: EncodeResult = {
      pooled: [],
      spatial: options.spatial ? [] : undefined,
      logits: options.logits ? [] : undefined,
    };
    const batch = new Float32Array(Math.min(inputs.length, ENCODE_CHUNK) * size);
    for (let start = 0; start < inputs.length; start += ENCODE_CHUNK) {
      const chunk = inputs.slice(start, start + ENCODE_CHUNK);
      const images = await Promise.all(chunk.map((input) => this.decode(input)));
      images.forEach((image, slot) => this.fill(image, batch, slot));
      const out = await this.run(batch, images.length, options);
      const split = (data: Float32Array, per: number, into: Float32Array[]) => {
        for (let i = 0; i < images.length; i++) into.push(data.slice(i * per, (i + 1) * per));
      };
      split(out.pooled, this.identity.pooledDim, result.pooled);
      if (out.spatial) split(out.spatial, out.spatial.length / images.length, result.spatial!);
      if (out.logits) split(out.logits, this.classes, result.logits!);
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export { DEFAULT_ENCODER };
