import { cocoTokenize } from '../eval/ptb-tokenizer.js';
import { CaptionerError } from '../util/errors.js';

/**
 * The bytes of a consensus index (`consensus.bin`): what `ConsensusIndex` searches, packed small enough
 * to ship inside a model folder and a browser bundle. Version 3 (written since 2026-11-27) stores each
 * photo's vector as 4-bit codes into a table of 16 int8 levels (or as int8) and the captions as ids of
 * their coco-caption tokens (what CIDEr-D compares: tokenized once, when the index is built, not at
 * every load). Still read: version 2 (the same, but the ids are of the cleaned captions' words) and
 * version 1 (int8 vectors, captions as JSON text).
 *
 *   "CAPCONS1", uint32 n (little-endian), n bytes of JSON header,
 *   zero bytes to a multiple of 4, `count` float32 row scales,
 *   `count` rows of vector codes (`dim` int8 values, or ceil(dim/2) bytes of 4-bit codes, low nibble first),
 *   versions 2 and 3: a zero byte to a multiple of 2, `tokens` uint16 word ids (id i + 1 = words[i], 0
 *   ends a caption).
 */

const MAGIC = 'CAPCONS1';
export const FORMAT_VERSION = 3;

/** Bits per stored vector value: 8 (int8) or 4 (an index into 16 int8 levels). */
export type VectorBits = 4 | 8;

export interface IndexHeader {
  k: number;
  weight: number;
  /** The weight of the agreement in BLEU-4 (absent in indexes written before 2026-11-27: 0). */
  bleuWeight?: number;
  /** The encoder whose pooled vectors these are: a query from another means nothing. */
  encoder: { name: string; sha256: string };
  count: number;
  dim: number;
  /** Where it was built from, for people reading it. */
  source?: string;
}

/** An index as the searcher uses it: unpacked int8 rows, their scales, the captions as text. */
export interface IndexContents {
  header: IndexHeader;
  bits: VectorBits;
  /** 4 bits: the int8 value of each code (16 at most). */
  levels?: number[];
  /** Row r's unit vector ≈ vectors[r·dim .. (r+1)·dim) · scales[r]. */
  vectors: Int8Array;
  scales: Float32Array;
  /** The file's vector section, as stored (the 4-bit codes packed). */
  stored: Uint8Array;
  /** Each photo's reference captions as coco-caption tokens (PTB-tokenized, lower-cased, no punctuation). */
  references: string[][][];
}

interface FileHeaderV1 extends IndexHeader {
  version: 1;
  references: string[][];
}
interface FileHeaderV2 extends IndexHeader {
  /** 3: the words are coco-caption tokens; 2: the cleaned captions' words (tokenized when read). */
  version: 2 | 3;
  bits: VectorBits;
  levels?: number[];
  /** Every distinct coco-caption token of the captions. */
  words: string[];
  /** How many captions each photo has. */
  captions: number[];
  /** How many uint16 ids the caption section holds (the words plus one 0 per caption). */
  tokens: number;
}

/**
 * Rows of unit vectors quantised with a scale per row. 4 bits: 16 levels spaced as t^1.5 (finer near 0,
 * where most values of pooled ReLU features lie; measured on Flickr8k: 92.5% of the 15 nearest training
 * photos found as with float32, against 91.4% for evenly spaced levels; int8: 98.4%); one-sided when no
 * value is negative, as with ReLU features.
 */
export function quantiseRows(
  rows: readonly Float32Array[],
  dim: number,
  bits: VectorBits,
): Pick<IndexContents, 'vectors' | 'scales' | 'stored' | 'levels'> {
  const vectors = new Int8Array(rows.length * dim);
  const scales = new Float32Array(rows.length);
  const signed = rows.some((v) => v.some((x) => x < 0));
  const levels = bits === 4 ? fourBitLevels(signed) : undefined;
  const rowBytes = bits === 8 ? dim : Math.ceil(dim / 2);
  const packed = bits === 4 ? new Uint8Array(rows.length * rowBytes) : undefined;
  rows.forEach((v, r) => {
    let max = 0;
    for (const x of v) max = Math.max(max, Math.abs(x));
    const scale = max > 0 ? max / 127 : 1;
    scales[r] = scale;
    for (let d = 0; d < dim; d++) {
      const t = v[d] / scale;
      if (!levels) {
        vectors[r * dim + d] = Math.round(t);
        continue;
      }
      let code = 0;
      for (let c = 1; c < levels.length; c++)
        if (Math.abs(levels[c] - t) < Math.abs(levels[code] - t)) code = c;
      vectors[r * dim + d] = levels[code];
      packed![r * rowBytes + (d >> 1)] |= d & 1 ? code << 4 : code;
    }
  });
  const stored = packed ?? new Uint8Array(vectors.buffer);
  return { vectors, scales, stored, levels };
}

function fourBitLevels(signed: boolean): number[] {
  const curve = (t: number) => Math.round(127 * t ** 1.5);
  if (!signed) return Array.from({ length: 16 }, (_, i) => curve(i / 15));
  // −127 … 0 … 127 in 15 levels.
  return Array.from({ length: 15 }, (_, i) => Math.sign(i - 7) * curve(Math.abs(i - 7) / 7));
}

export function serializeIndex(index: IndexContents): Uint8Array {
  const words: string[] = [];
  const ids = new Map<string, number>();
  const tokens: number[] = [];
  for (const refs of index.references)
    for (const caption of refs) {
      for (const word of caption) {
        let id = ids.get(word);
        if (id === undefined) {
          id = words.push(word);
          ids.set(word, id);
        }
        tokens.push(id);
      }
      tokens.push(0);
    }
  if (words.length >= 0xffff)
    throw new RangeError(`${words.length} distinct words: more than a consensus index can hold`);
  const header: FileHeaderV2 = {
    version: 3,
    ...index.header,
    bits: index.bits,
    ...(index.levels ? { levels: index.levels } : {}),
    words,
    captions: index.references.map((refs) => refs.length),
    tokens: tokens.length,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const scalesAt = align(12 + json.length, 4);
  const vectorsAt = scalesAt + index.scales.byteLength;
  const tokensAt = align(vectorsAt + index.stored.byteLength, 2);
  const bytes = new Uint8Array(tokensAt + 2 * tokens.length);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, json.length, true);
  bytes.set(json, 12);
  bytes.set(new Uint8Array(index.scales.buffer, index.scales.byteOffset, index.scales.byteLength), scalesAt);
  bytes.set(index.stored, vectorsAt);
  tokens.forEach((id, i) => view.setUint16(tokensAt + 2 * i, id, true));
  return bytes;
}

/** Reads a `consensus.bin` (version 1, 2 or 3); `where` names it in errors. */
export function parseIndex(bytes: Uint8Array, where: string): IndexContents {
  const bad = (why: string) =>
    new CaptionerError('MODEL_INVALID', `${where} is not a consensus index: ${why}`);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC)
    throw bad(`it does not start with ${MAGIC}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonLength = view.getUint32(8, true);
  if (12 + jsonLength > bytes.length) throw bad('truncated header');
  let file: FileHeaderV1 | FileHeaderV2;
  try {
    file = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength))) as typeof file;
  } catch {
    throw bad('unreadable header');
  }
  if (file.version !== 1 && file.version !== 2 && file.version !== 3)
    throw bad(
      `version ${String((file as { version?: unknown }).version)}, this captioner reads 1 to ${FORMAT_VERSION}`,
    );
  const { count, dim } = file;
  if (!(Number.isInteger(count) && count > 0 && Number.isInteger(dim) && dim > 0))
    throw bad('no photos or no dimensions');
  const bits: VectorBits = file.version === 1 ? 8 : file.bits;
  if (bits !== 8 && bits !== 4) throw bad(`${String(bits)}-bit vectors`);
  const levels = file.version === 1 ? undefined : file.levels;
  if (bits === 4 && !(Array.isArray(levels) && levels.length <= 16 && levels.every(isInt8)))
    throw bad('4-bit vectors without a table of at most 16 int8 levels');
  const scalesAt = align(12 + jsonLength, 4);
  const vectorsAt = scalesAt + count * 4;
  const rowBytes = bits === 8 ? dim : Math.ceil(dim / 2);
  const vectorsEnd = vectorsAt + count * rowBytes;
  const tokensAt = file.version === 1 ? vectorsEnd : align(vectorsEnd, 2);
  const end = file.version === 1 ? vectorsEnd : tokensAt + 2 * file.tokens;
  if (bytes.length !== end) throw bad(`${bytes.length} bytes, ${end} expected (truncated?)`);
  // Copies: the file's bytes need not be aligned for a Float32Array view. Not `bytes.slice`: a Node
  // Buffer's slice is a view into a shared pool, not a copy.
  const copy = (from: number, to: number) => {
    const out = new Uint8Array(to - from);
    out.set(bytes.subarray(from, to));
    return out;
  };
  const scales = new Float32Array(copy(scalesAt, vectorsAt).buffer);
  const stored = copy(vectorsAt, vectorsEnd);
  let vectors: Int8Array;
  if (bits === 8) vectors = new Int8Array(stored.buffer);
  else {
    vectors = new Int8Array(count * dim);
    for (let r = 0; r < count; r++)
      for (let d = 0; d < dim; d++) {
        const byte = stored[r * rowBytes + (d >> 1)];
        const code = d & 1 ? byte >> 4 : byte & 15;
        if (code >= levels!.length) throw bad(`code ${code} of photo ${r} has no level`);
        vectors[r * dim + d] = levels![code];
      }
  }
  if (file.version === 1 && !(Array.isArray(file.references) && file.references.length === count))
    throw bad(`${file.references?.length} photos' references for ${count} vectors`);
  const references =
    file.version === 1
      ? file.references.map((refs) => refs.map(cocoTokenize))
      : file.version === 2
        ? readCaptions(file, view, tokensAt, bad).map((refs) => refs.map((w) => cocoTokenize(w.join(' '))))
        : readCaptions(file, view, tokensAt, bad);
  const header: IndexHeader = {
    k: file.k,
    weight: file.weight,
    ...(file.bleuWeight ? { bleuWeight: file.bleuWeight } : {}),
    encoder: file.encoder,
    count,
    dim,
    ...(file.source !== undefined ? { source: file.source } : {}),
  };
  return { header, bits, levels, vectors, scales, stored, references };
}

function readCaptions(
  file: FileHeaderV2,
  view: DataView,
  at: number,
  bad: (why: string) => Error,
): string[][][] {
  const { words, captions, tokens } = file;
  if (!Array.isArray(words) || !Array.isArray(captions) || captions.length !== file.count)
    throw bad('no word list or caption counts');
  const references: string[][][] = [];
  let t = 0;
  for (const n of captions) {
    const refs: string[][] = [];
    for (let c = 0; c < n; c++) {
      const caption: string[] = [];
      for (;;) {
        if (t >= tokens) throw bad('the captions end early');
        const id = view.getUint16(at + 2 * t++, true);
        if (id === 0) break;
        if (id > words.length) throw bad(`word id ${id} of ${words.length}`);
        caption.push(words[id - 1]);
      }
      refs.push(caption);
    }
    references.push(refs);
  }
  if (t !== tokens) throw bad(`${tokens - t} word ids after the last caption`);
  return references;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function isInt8(x: unknown): boolean {
  return Number.isInteger(x) && (x as number) >= -128 && (x as number) <= 127;
}
