import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CaptionerError, errnoCode } from '../util/errors.js';
import type { DataIssue } from './issues.js';

/**
 * The caption file formats `captioner prepare` reads: Flickr8k's own two (this file), Karpathy's split
 * JSON, COCO's captions JSON, and tables of your own (layouts/).
 */
export type CaptionFileFormat =
  'flickr8k-token' | 'kaggle-csv' | 'karpathy-json' | 'coco-json' | 'csv' | 'tsv' | 'jsonl' | 'json';

/** One raw caption as it stands in the file. */
export interface CaptionEntry {
  image: string;
  caption: string;
  line: number;
}

export interface CaptionFile {
  path: string;
  format: CaptionFileFormat;
  entries: CaptionEntry[];
  issues: DataIssue[];
}

/**
 * Reads a Flickr8k caption file in either format users have: the original `Flickr8k.token.txt`
 * (`<image>#<n>\t<caption>`) or Kaggle's `captions.txt` (CSV with an `image,caption` header).
 * Bad lines become issues; only a missing or wholly unparsable file throws.
 */
export async function readCaptionFile(path: string): Promise<CaptionFile> {
  return parseCaptionText((await readCaptionBytes(path)).toString('utf8'), path);
}

/** A caption file's bytes; a missing or unreadable file is a DATA_MISSING error that names it. */
export async function readCaptionBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = errnoCode(error);
    throw new CaptionerError(
      'DATA_MISSING',
      code === 'ENOENT'
        ? `caption file not found: ${path}`
        : `cannot read caption file ${path}: ${code ?? error}`,
      { cause: error },
    );
  }
}

export function parseCaptionText(text: string, path: string): CaptionFile {
  const body = text.replace(/^\uFEFF/, '');
  const format = detectFlickr8kFormat(body);
  if (!format) {
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: not a Flickr8k caption file (expected "<image>#<n>\\t<caption>" lines or a CSV with an "image,caption" header)`,
    );
  }
  const parsed = format === 'kaggle-csv' ? parseCsv(body, path) : parseToken(body, path);
  if (parsed.entries.length === 0) {
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: no caption could be read (${parsed.issues.length} bad lines${parsed.issues[0] ? `, the first: line ${parsed.issues[0].line}: ${parsed.issues[0].reason}` : ''})`,
    );
  }
  return { path, format, ...parsed };
}

/** Flickr8k's token format or Kaggle's `image,caption` CSV, told by the text; undefined for any other. */
export function detectFlickr8kFormat(text: string): 'flickr8k-token' | 'kaggle-csv' | undefined {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length === 0) return undefined;
  if (/^\s*"?image"?\s*,\s*"?caption"?\s*$/i.test(lines[0])) return 'kaggle-csv';
  // A few garbage lines must not hide the format: decide on the majority of the first lines.
  const sample = lines.slice(0, 50);
  const tabbed = sample.filter((l) => /^[^\t]+#\d+\t/.test(l)).length;
  return tabbed * 2 >= sample.length ? 'flickr8k-token' : undefined;
}

type Parsed = Pick<CaptionFile, 'entries' | 'issues'>;

function parseToken(text: string, path: string): Parsed {
  const file = basename(path);
  const entries: CaptionEntry[] = [];
  const issues: DataIssue[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    const tab = raw.indexOf('\t');
    if (tab < 0) {
      issues.push({ file, line, reason: 'no tab between image and caption' });
      return;
    }
    const key = raw.slice(0, tab).trim();
    const hash = key.lastIndexOf('#');
    const image = hash >= 0 ? key.slice(0, hash) : key;
    const caption = raw.slice(tab + 1).trim();
    addEntry(entries, issues, file, line, image, caption);
  });
  return { entries, issues };
}

function parseCsv(text: string, path: string): Parsed {
  const file = basename(path);
  const entries: CaptionEntry[] = [];
  const issues: DataIssue[] = [];
  const records = csvRecords(text);
  for (const { fields, line, error } of records.slice(1)) {
    if (error) {
      issues.push({ file, line, reason: error });
      continue;
    }
    if (fields.length === 1 && fields[0].trim() === '') continue;
    if (fields.length < 2) {
      issues.push({ file, line, reason: 'no comma between image and caption' });
      continue;
    }
    // Some copies leave commas inside captions unquoted: image names never hold one, so rejoin the rest.
    addEntry(entries, issues, file, line, fields[0].trim(), fields.slice(1).join(',').trim());
  }
  return { entries, issues };
}

function addEntry(
  entries: CaptionEntry[],
  issues: DataIssue[],
  file: string,
  line: number,
  image: string,
  caption: string,
): void {
  if (image === '') issues.push({ file, line, reason: 'empty image name' });
  else if (caption === '') issues.push({ file, line, reason: `empty caption for ${image}` });
  else entries.push({ image, caption, line });
}

export interface CsvRecord {
  fields: string[];
  line: number;
  error?: string;
}

/**
 * RFC 4180 records: quoted fields may hold the delimiter, doubled quotes and newlines. `line` is where
 * each record starts.
 */
export function csvRecords(text: string, delimiter = ','): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      fields.push(field);
      records.push({ fields, line: recordLine });
      fields = [];
      field = '';
      line++;
      recordLine = line;
    } else field += c;
  }
  if (quoted) {
    records.push({ fields: [], line: recordLine, error: 'unterminated quote' });
  } else if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push({ fields, line: recordLine });
  }
  return records;
}
