/** What a caption request may ask for. */
export interface CaptionOptions {
  /** Beam width; 1 is greedy. Default 3. */
  beam?: number;
  /** How many captions to return besides the best (at most the beam width). Default: beam - 1. */
  alternatives?: number;
  /** Longest caption, in words. Default 20 (or the model's longest training caption, if shorter). */
  maxLength?: number;
  /** Never repeat a word trigram within a caption. Default true. */
  blockTrigrams?: boolean;
  /** Never end right after a dangling word ("a", "the", "with", "in", "and", "is", …). Default true. */
  badEndings?: boolean;
  /**
   * Beam search on until no live hypothesis could beat the alternatives at any length (exact; ~25% more
   * decoder steps). Default false: stop once none beats them if it ended at the next step.
   */
  exhaustive?: boolean;
  /**
   * Also return where the model looked for each word of the caption (`CaptionResult.attention`). Only
   * attention models (`card.attention`) can: others refuse with a NO_ATTENTION CaptionerError.
   */
  attention?: boolean;
  /**
   * Rerank the beam's captions by consensus with the nearest training photos' captions, where the model
   * has a consensus index (`card.consensus`). Default true; false ranks by the model's score alone.
   */
  consensus?: boolean;
}

/** Where the model looked as it wrote one word of the caption. */
export interface WordAttention {
  /** The word as the caption shows it ("dog's" is one word, for the two tokens "dog" and "s"). */
  word: string;
  /**
   * One weight per region of the encoder's spatial map, row-major over its `attentionGrid` (7×7 = 49 for
   * MobileNetV2), summing to 1. A word of several tokens gets their mean.
   */
  weights: number[];
}

export interface CaptionAlternative {
  text: string;
  /** Length-normalised log-probability: higher is better, 0 is certain. */
  score: number;
  /**
   * With consensus reranking: the caption's mean CIDEr-D (0..10) against the captions of the most similar
   * training photos; captions are ranked by score + weight · consensus.
   */
  consensus?: number;
}

/** Where the time of one caption went, in milliseconds. */
export interface CaptionTimings {
  decodeMs: number;
  encodeMs: number;
  generateMs: number;
  totalMs: number;
}

export interface CaptionResult {
  caption: string;
  /** The best captions, best first (the first equals `caption`). */
  alternatives: CaptionAlternative[];
  timings: CaptionTimings;
  /** With the `attention` option: one entry per word of `caption`, in order. */
  attention?: WordAttention[];
  /** With the `attention` option: [rows, columns] of the grid the weights cover (e.g. [7, 7]). */
  attentionGrid?: [number, number];
}

// Its own tiny file: the web page's type check reads these types too, without the Node-only modules.
import type { ImageInput } from '../vision/image-input.js';

export type { ImageInput };

/** What a client can learn about the loaded model (GET /api/model). */
export interface ModelCard {
  name: string;
  architecture: string;
  encoder: { name: string; sha256: string };
  vocabSize: number;
  /** Beam search length normalisation α the model decodes with by default. */
  lengthPenalty: number;
  /** Scores the model card reports, e.g. { test: { bleu4: 18.1, ciderD: 47.2 } }. */
  metrics: Record<string, Record<string, number | string>>;
  /** The model card's text (Markdown), if the model folder has one. */
  description?: string;
  /** True for attention models: captions can say where the model looked for each word. */
  attention?: boolean;
  /**
   * Present when the model reranks its beam by consensus with the captions of the k most similar of
   * `photos` training photos (score + weight · CIDEr-D against them).
   */
  consensus?: { k: number; weight: number; bleuWeight?: number; photos: number };
}

export interface Captioner {
  readonly card: ModelCard;
  caption(input: ImageInput, options?: CaptionOptions): Promise<CaptionResult>;
  /** Many images at once (batched through the encoder); a bad image gives its error in place, the rest go on. */
  captionMany(inputs: ImageInput[], options?: CaptionOptions): Promise<(CaptionResult | { error: Error })[]>;
  dispose(): Promise<void>;
}

/** Most images a captioner runs through the encoder at once (bounds the memory of decoded images). */
export const CAPTION_CHUNK = 16;
