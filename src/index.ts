/**
 * captioner's public library API. Everything a program needs is exported from here; the folders behind
 * it (data, vision, model, train, decode, eval, serve) are implementation.
 */
export { CaptionerError, isCaptionerError } from './util/errors.js';

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
export type { Split } from './data/splits.js';
export type { DataIssue } from './data/issues.js';
