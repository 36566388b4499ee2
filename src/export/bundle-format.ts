// The bundle that `captioner export` writes and the browser loads: types and names only, no Node
// imports (the browser entry reads them too).

import type { StateSpec } from '../model/architecture.js';
import type { ModelCard } from '../pipeline/captioner-types.js';

export const BUNDLE_FORMAT = 'captioner-bundle';
export const BUNDLE_VERSION = 1;

/** The bundle's files. */
export const BUNDLE_FILES = {
  config: 'config.json',
  readme: 'README.md',
  encoder: 'encoder.onnx',
  start: 'decoder-start.onnx',
  step: 'decoder-step.onnx',
  /** The consensus index (see src/decode/consensus.ts), when the model has one. */
  consensus: 'consensus.bin',
} as const;

/** One input or output of a graph: its name, element type and dimensions ('rows'/'N': any count). */
export interface BundleTensor {
  name: string;
  type: 'float32' | 'int32';
  dims: (number | string)[];
  description: string;
}

export interface BundleGraph {
  file: string;
  inputs: BundleTensor[];
  outputs: BundleTensor[];
}

export interface BundleFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface BundleConfig {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  /** The model card (without its long text): name, architecture, encoder, scores. */
  model: Omit<ModelCard, 'description'> & { members: number; featureDim: number };
  /** How a photo becomes the encoder's input tensor (what the server does, with sharp). */
  preprocessing: {
    /** [height, width]: the photo is squashed to it, aspect ratio not kept, nothing cropped. */
    inputSize: [number, number];
    resize: 'squash';
    /** The server's resampling filter (libvips via sharp). */
    resampling: 'lanczos3';
    /** EXIF orientation applied, transparency flattened on white, converted to 8-bit sRGB. */
    orientation: 'exif';
    background: [number, number, number];
    colorSpace: 'srgb';
    /** Planar RGB: [N, 3, height, width]. */
    layout: 'NCHW';
    /** value = (byte · scale − mean[c]) / std[c], c in R, G, B order. */
    scale: number;
    mean: [number, number, number];
    std: [number, number, number];
  };
  encoder: BundleGraph & {
    source: { name: string; sha256: string };
    /**
     * How the int8 convolutions compute: 'calibrated' or 'all' reproduce onnxruntime's AVX2 kernels
     * (16-bit saturation of pairs of products, the features the model was trained on) for the pairs that
     * saturate on real photos or for every pair that can; 'none': exact int8 arithmetic.
     */
    u8s8: {
      emulation: 'calibrated' | 'all' | 'none';
      layers: number;
      pairs: number;
      calibrationPhotos?: number;
    };
  };
  decoder: {
    /**
     * The encoder output the start graph reads: the pooled `features`, or (attention models) the
     * `spatial` map with its regions flattened ([N, C, H, W] read as [N, C, H·W]).
     */
    reads: 'features' | 'spatial';
    /** Absent when every state starts at zero. */
    start?: BundleGraph;
    step: BundleGraph;
    /**
     * The tensors a step carries, rows × width each: `init` 'start' ones come from the start graph, 'zeros'
     * ones start at zero; a `constant` one is fed unchanged to every step, the others come back from the
     * step as `<name>.next`.
     */
    states: StateSpec[];
    /**
     * The step graph reads each constant state once per image ([images, …]) and the other states and
     * the tokens as k rows per image, grouped in image order (a beam search's k beams; k = 1 is one row
     * per image). Absent in bundles written before: constants one row per row.
     */
    constantsPerImage?: boolean;
    /** 'int8': int8 matrices with scales per column (per row for the embedding), dequantized inside the graphs. */
    weights: 'int8' | 'float32';
    /**
     * Products with int8 weights run as onnxruntime's DynamicQuantizeMatMul (com.microsoft): all (true),
     * or those with the listed weights ("output.kernel"); absent: none.
     */
    integerProducts?: boolean | readonly string[];
  };
  vocabulary: {
    /** Id → word; ids 0–3 are the specials <pad>, <start>, <end>, <unk>. */
    tokens: string[];
    pad: number;
    start: number;
    end: number;
    unk: number;
  };
  /** How the captioner decodes by default (beam search and its rules). */
  decoding: {
    beam: number;
    /** Hypotheses are ranked by logProb / (words + 1)^lengthPenalty. */
    lengthPenalty: number;
    maxLength: number;
    /** No word that would repeat a word trigram already in the caption. */
    blockTrigrams: boolean;
    /** No end right after one of `danglingWords`; the last word allowed (at maxLength) is not one either. */
    badEndings: boolean;
    danglingWords: string[];
    /**
     * Consensus reranking, when the model has an index: the beam's captions reordered by logProb score +
     * weight · their mean CIDEr-D against the captions of the photo's k most similar training photos
     * (cosine of the pooled features), the index in `file`.
     */
    consensus?: { file: string; k: number; weight: number; bleuWeight?: number; photos: number };
  };
  files: BundleFile[];
}
