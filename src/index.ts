/**
 * captioner's public library API. Everything a program needs is exported from here; the folders behind
 * it (data, vision, model, train, decode, eval, serve) are implementation.
 */
export { CaptionerError, isCaptionerError } from './util/errors.js';

// Captioning: what most programs need. `const c = await loadCaptioner(); await c.caption('dog.jpg')`.
export { loadCaptioner, defaultModelDir } from './pipeline/load-captioner.js';
export type { LoadCaptionerOptions } from './pipeline/load-captioner.js';
// Captioning on every core of one process (what `captioner serve` runs): captioners in worker threads.
export { loadCaptionerPool } from './pipeline/captioner-pool.js';
export type { CaptionerPoolOptions } from './pipeline/captioner-pool.js';
export type {
  Captioner,
  CaptionOptions,
  CaptionResult,
  CaptionAlternative,
  CaptionTimings,
  ModelCard,
} from './pipeline/captioner-types.js';
export { evaluateSplit, captionVectors } from './pipeline/evaluate-split.js';
export type { EvaluateOptions, Evaluation } from './pipeline/evaluate-split.js';

// Data: caption files, cleaning, vocabulary, the prepared corpus.
export { readCaptionFile, parseCaptionText } from './data/caption-file.js';
export type { CaptionEntry, CaptionFile, CaptionFileFormat } from './data/caption-file.js';
export { cleanCaption, DEFAULT_CLEANING } from './data/clean.js';
export type { CleaningOptions } from './data/clean.js';
export { Vocabulary, PAD, START, END, UNK, SPECIAL_TOKENS } from './data/vocabulary.js';
export type { VocabularyJson } from './data/vocabulary.js';
export { prepareCorpus, saveCorpus, loadCorpus } from './data/corpus.js';
export type { CorpusImage, CorpusJson, CorpusStats, PrepareOptions, PreparedCorpus } from './data/corpus.js';
export { readSplitFile, SPLITS } from './data/splits.js';
export type { CorpusSplitMethod } from './data/corpus.js';
export { readCaptionSource, findCaptionFiles } from './data/layouts/read-captions.js';
export type { CaptionReadOptions } from './data/layouts/read-captions.js';
export type { CaptionSource, SourceCaption } from './data/caption-source.js';
export type { RestvalChoice } from './data/layouts/karpathy-json.js';
export type { TableColumns } from './data/layouts/table-file.js';
export { hashSplit, parseSplitRatio, parseSplitSizes, DEFAULT_SPLIT_RATIO } from './data/hash-split.js';
export type { SplitRatio, SplitSizes } from './data/hash-split.js';
export { flickr8kOfficialSplit, looksLikeFlickr8k } from './data/flickr8k-splits.js';
export type { Split } from './data/splits.js';
export type { DataIssue } from './data/issues.js';

// Scoring: coco-caption's BLEU, ROUGE-L and CIDEr-D (METEOR and SPICE need Java: not provided).
export { scoreCaptions, formatScores, METRICS } from './eval/score.js';
export type { CaptionScores, Metric } from './eval/score.js';
export { cocoTokenize } from './eval/ptb-tokenizer.js';
export { loadReferences, readCaptionsJson } from './eval/references.js';

// Models: a model folder (or ensemble) and its step decoder, on onnxruntime by default.
export { loadModel } from './model/model-folder.js';
export type { LoadedModel, ModelFolderConfig } from './model/model-folder.js';
export { openDecoder } from './model/open-decoder.js';
export type { IntegerProducts } from './graph/passes.js';
export type { OpenDecoderOptions } from './model/open-decoder.js';
export type { StepDecoder, DecoderState, StepResult } from './model/step-decoder.js';

// Caption generation: greedy and beam search over any StepDecoder.
export { beamSearch } from './decode/beam-search.js';
export { greedySearch } from './decode/greedy.js';
export type { DecodeOptions, DecodedCaption } from './decode/options.js';
// Consensus reranking: the beam's captions reordered by agreement with the nearest training photos' captions.
export { ConsensusIndex, CONSENSUS_FILE } from './decode/consensus.js';
export type { ConsensusSettings, RankedCandidate } from './decode/consensus.js';

// Serving: the HTTP API and the web page around a Captioner (`captioner serve` runs it).
export { buildServer } from './serve/server.js';
export type { ServerOptions } from './serve/server.js';
export { DEFAULT_LIMITS, resolveLimits } from './serve/limits.js';
export type { ServeLimits } from './serve/limits.js';
export { closeOnSignals } from './serve/shutdown.js';
export type { ErrorBody } from './serve/error-body.js';

// The job queue: BullMQ on Redis, for many workers on many machines (`captioner queue`, `captioner worker`).
export { openQueue, redisUrl, QUEUE_NAME } from './queue/connection.js';
export type { PhotoQueue, RedisClients } from './queue/connection.js';
export { addPhotos, photoSources } from './queue/add.js';
export type { AddSummary, PhotoSources } from './queue/add.js';
export { startCaptionWorker } from './queue/worker.js';
export type { CaptionWorker, CaptionWorkerOptions } from './queue/worker.js';
export { queueStatus } from './queue/status.js';
export type { QueueStatus } from './queue/status.js';
export { exportResults } from './queue/results.js';
export type { ExportOptions, ExportSummary } from './queue/results.js';
export { photoJobId } from './queue/jobs.js';
export type { PhotoJobData, PhotoResult, ResultLine, RetryOptions } from './queue/jobs.js';
export type { PhotoLimits } from './queue/fetch-photo.js';

// Vision: images in, CNN feature vectors out (`captioner features`, `captioner classify`).
export { loadEncoder } from './vision/encoder.js';
export type {
  ImageEncoder,
  ImageInput,
  EncodeOptions,
  EncodeResult,
  LoadEncoderOptions,
} from './vision/encoder.js';
export { decodeImage, sniffImageFormat } from './vision/decode-image.js';
export type {
  DecodedImage,
  DecodeOptions as ImageDecodeOptions,
  ImageFormat,
} from './vision/decode-image.js';
export { ENCODERS, DEFAULT_ENCODER } from './vision/encoders.js';
export type { EncoderSpec } from './vision/encoders.js';
export { readPooledFeatures, openSpatialFeatures } from './vision/feature-store.js';
export type { EncoderIdentity, PooledFeatures, SpatialFeatures } from './vision/feature-store.js';
export { computeFeatures } from './vision/compute-features.js';
export { loadImageNetLabels, topK } from './vision/labels.js';
