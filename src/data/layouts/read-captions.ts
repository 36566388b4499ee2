import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CaptionerError } from '../../util/errors.js';
import { detectFlickr8kFormat, parseCaptionText, readCaptionBytes } from '../caption-file.js';
import type { CaptionSource } from '../caption-source.js';
import { isCocoCaptionsJson, parseCocoJson } from './coco-json.js';
import { isKarpathyJson, parseKarpathyJson, type RestvalChoice } from './karpathy-json.js';
import { parseTableText, tableFormatOf, type TableColumns } from './table-file.js';

export interface CaptionReadOptions extends TableColumns {
  restval?: RestvalChoice;
}

/**
 * Reads any caption file prepare knows, told by its content: Flickr8k's token file or Kaggle's
 * `captions.txt`, Karpathy's split JSON, a COCO captions JSON, or a table (CSV, TSV, JSON Lines, JSON
 * array). Bad lines become issues; a missing file, an unknown format or a file of no caption throws.
 */
export async function readCaptionSource(
  path: string,
  options: CaptionReadOptions = {},
): Promise<CaptionSource> {
  const text = decodeText(await readCaptionBytes(path));
  const source = parseCaptionSource(text.replace(/^\uFEFF/, ''), path, options);
  if (source.entries.length === 0) {
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: no caption could be read (${source.issues.length} bad lines${source.issues[0] ? `, the first: ${source.issues[0].line ? `line ${source.issues[0].line}: ` : ''}${source.issues[0].reason}` : ''})`,
    );
  }
  return source;
}

/**
 * The text of a caption file: UTF-8 (with or without a byte order mark), UTF-16 with its mark (Excel's
 * "Unicode text"), else Windows-1252 (Excel's CSV on Windows: "Straße" and "été" stay themselves).
 */
export function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

function parseCaptionSource(text: string, path: string, options: CaptionReadOptions): CaptionSource {
  const start = text.trimStart()[0];
  if (start === '{' || start === '[') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      // Several objects, one a line, are JSON Lines; anything else is broken JSON.
      if (start === '{' && text.trim().includes('\n')) return parseTableText(text, path, 'jsonl', options);
      throw new CaptionerError('DATA_FORMAT', `${path}: not valid JSON: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (isKarpathyJson(json)) return parseKarpathyJson(json, path, options.restval);
    if (isCocoCaptionsJson(json)) return parseCocoJson(json, path);
    return parseTableText(text, path, Array.isArray(json) ? 'json' : 'jsonl', options);
  }
  if (detectFlickr8kFormat(text)) {
    const parsed = parseCaptionText(text, path);
    const file = basename(path);
    return {
      path,
      format: parsed.format,
      entries: parsed.entries.map((e) => ({ ...e, file })),
      issues: parsed.issues,
    };
  }
  return parseTableText(text, path, tableFormatOf(path, text), options);
}

const FLICKR8K_CAPTION_FILES = ['Flickr8k.token.txt', 'captions.txt'];
export const FLICKR8K_TEXT_SUBDIRS = ['', 'Flickr8k_text', 'text'];
const TABLE_FILE = /\.(csv|tsv|tab|jsonl|ndjson)$/i;

async function filesIn(dir: string, pattern: RegExp): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => !e.name.startsWith('.') && !e.isDirectory() && pattern.test(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

/**
 * The caption files of a data folder, in the layouts users have, first found first: Flickr8k's
 * `Flickr8k.token.txt` or Kaggle's `captions.txt` (also under Flickr8k_text/), Karpathy's
 * `dataset_*.json`, COCO's `captions_*.json` (also under annotations/; all of them, one per split), or
 * the one table (.csv, .tsv, .jsonl) in the folder.
 */
export async function findCaptionFiles(dataDir: string): Promise<string[]> {
  for (const sub of FLICKR8K_TEXT_SUBDIRS)
    for (const name of FLICKR8K_CAPTION_FILES) {
      const found = await filesIn(join(dataDir, sub), new RegExp(`^${name.replace(/\./g, '\\.')}$`));
      if (found.length) return found;
    }
  const several = (files: string[], what: string) =>
    new CaptionerError(
      'USAGE',
      `${dataDir} has several ${what} (${files.map((f) => basename(f)).join(', ')}): name the one to use with --captions`,
    );
  for (const sub of ['', 'annotations', 'karpathy']) {
    const karpathy = await filesIn(join(dataDir, sub), /^dataset_.*\.json$/i);
    if (karpathy.length > 1) throw several(karpathy, 'Karpathy split files');
    if (karpathy.length === 1) return karpathy;
  }
  for (const sub of ['', 'annotations']) {
    const coco = await filesIn(join(dataDir, sub), /^captions_.*\.json$/i);
    if (coco.length) return coco;
  }
  const tables = await filesIn(dataDir, TABLE_FILE);
  if (tables.length > 1) throw several(tables, 'caption tables');
  if (tables.length === 1) return tables;
  throw new CaptionerError(
    'DATA_MISSING',
    `no caption file in ${dataDir} (looked for ${FLICKR8K_CAPTION_FILES.join(' or ')}, also under Flickr8k_text/; Karpathy's dataset_*.json; COCO's captions_*.json; a .csv, .tsv or .jsonl): name it with --captions`,
  );
}
