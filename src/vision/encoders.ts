/** A downloadable file: where to get it and how to check it. */
export interface AssetSpec {
  /** File name, as looked up in CAPTIONER_ASSET_PATH folders and in the cache. */
  file: string;
  /** Shown in messages, e.g. "encoder mobilenetv2-int8". */
  what: string;
  sha256?: string;
  bytes?: number;
  urls: string[];
}

/** A known ImageNet classifier usable as the caption encoder. */
export interface EncoderSpec extends AssetSpec {
  name: string;
  sha256: string;
  bytes: number;
  /** [height, width] of the network input; images are squashed to it. */
  inputSize: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  description: string;
}

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
const ZOO_GITHUB = 'https://github.com/onnx/models/raw/main/validated/vision/classification';
const ZOO_HF = 'https://huggingface.co/onnxmodelzoo';

export const ENCODERS: readonly EncoderSpec[] = [
  {
    name: 'mobilenetv2-int8',
    what: 'encoder mobilenetv2-int8',
    file: 'mobilenetv2-12-int8.onnx',
    sha256: '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f',
    bytes: 3_655_640,
    urls: [
      `${ZOO_GITHUB}/mobilenet/model/mobilenetv2-12-int8.onnx`,
      `${ZOO_HF}/mobilenetv2-12-int8/resolve/main/mobilenetv2-12-int8.onnx`,
    ],
    inputSize: [224, 224],
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    description: 'MobileNetV2 1.0, int8 (ONNX model zoo): 1,280-d pooled, 1,280×7×7 spatial',
  },
  {
    name: 'resnet50-v1-12-int8',
    what: 'encoder resnet50-v1-12-int8',
    file: 'resnet50-v1-12-int8.onnx',
    sha256: 'c234f30975989788b4405f25253275aae247ab6dbdd34aaa69ab0a59ff76f6d0',
    bytes: 25_816_052,
    urls: [
      `${ZOO_GITHUB}/resnet/model/resnet50-v1-12-int8.onnx`,
      `${ZOO_HF}/resnet50-v1-12-int8/resolve/main/resnet50-v1-12-int8.onnx`,
    ],
    inputSize: [224, 224],
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    description: 'ResNet50 v1, int8 (ONNX model zoo): 2,048-d pooled, 2,048×7×7 spatial',
  },
];

export const DEFAULT_ENCODER = 'mobilenetv2-int8';

/** Defaults for an encoder given as a path: the zoo's ImageNet convention. */
export const CUSTOM_ENCODER_DEFAULTS = {
  inputSize: [224, 224],
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
} as const;

/**
 * The 1,000 ImageNet class names in the usual output order, as a JSON array (`imagenet_labels.json`) or
 * as the model zoo's `synset.txt` ("n01440764 tench, Tinca tinca" per line); either is found.
 */
export const LABEL_ASSETS: readonly AssetSpec[] = [
  { file: 'imagenet_labels.json', what: 'ImageNet labels', urls: [] },
  {
    file: 'synset.txt',
    what: 'ImageNet labels',
    urls: [
      'https://raw.githubusercontent.com/onnx/models/main/validated/vision/classification/synset.txt',
      'https://raw.githubusercontent.com/onnx/models/main/vision/classification/synset.txt',
    ],
  },
];

export function findEncoderSpec(name: string): EncoderSpec | undefined {
  return ENCODERS.find((e) => e.name === name || e.file === name);
}
