import { basename, extname } from 'node:path';
import { CaptionerError } from '../../util/errors.js';
import { csvRecords } from '../caption-file.js';
import type { CaptionSource, SourceCaption } from '../caption-source.js';
import { IMAGE_NAME } from '../image-index.js';
import type { DataIssue } from '../issues.js';

/** Which columns hold the image and the captions, when the header alone does not say. */
export interface TableColumns {
  /** A header name (any case) or a 1-based column number. */
  imageColumn?: string;
  /** One or more header names or numbers; each non-empty cell is one caption. */
  captionColumns?: string[];
}

// Header names, compared lower-case with everything but letters and digits removed.
const IMAGE_HEADERS = [
  'image',
  'imagename',
  'imagefile',
  'imagepath',
  'imagefilename',
  'img',
  'imgname',
  'imgpath',
  'file',
  'filename',
  'filepath',
  'path',
  'photo',
  'photoname',
  'photofile',
  'picture',
  'bild',
  'fichier',
];
/** Caption headers; a number may follow ("caption1" … "caption5": several captions a row). */
const CAPTION_HEADER =
  /^(caption|captions|text|description|sentence|comment|alt|alttext|legende|légende|beschreibung|bildunterschrift|beschriftung|titre)(\d*)$/u;

const normaliseHeader = (h: string) => h.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');

/** Table-shaped caption files: CSV (also ; or | separated), TSV, JSON Lines, or a JSON array of objects. */
export type TableFormat = 'csv' | 'tsv' | 'jsonl' | 'json';

interface Row {
  line: number;
  at?: string;
  cells: Map<string, unknown>;
}

/**
 * Reads a table of your own: an image column (a file name or a relative path) and one or more caption
 * columns, header names detected (image, file_name, path, … / caption, text, description, …), else the
 * columns' content (file names with an image extension; sentences); `columns` settles what is ambiguous.
 * One or more captions an image: several rows, several caption columns, or (JSON) an array.
 */
export function parseTableText(
  text: string,
  path: string,
  format: TableFormat,
  columns: TableColumns = {},
): CaptionSource {
  const file = basename(path);
  const issues: DataIssue[] = [];
  const { header, rows } =
    format === 'jsonl'
      ? jsonlRows(text, file, issues)
      : format === 'json'
        ? jsonRows(text, path)
        : delimitedRows(text, path, format, issues);
  const imageColumn = pickImageColumn(header, rows, columns.imageColumn, path);
  const captionColumns = pickCaptionColumns(header, rows, imageColumn, columns.captionColumns, path);
  const entries: SourceCaption[] = [];
  for (const row of rows) {
    const where = { file, line: row.line, at: row.at };
    const at = (reason: string) => ({
      file,
      line: row.line,
      reason: row.at ? `${row.at}: ${reason}` : reason,
    });
    const rawImage = row.cells.get(imageColumn);
    const image = typeof rawImage === 'string' || typeof rawImage === 'number' ? String(rawImage).trim() : '';
    const captions: string[] = [];
    let bad = false;
    for (const column of captionColumns) {
      const value = row.cells.get(column);
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v === 'string') {
          if (v.trim() !== '') captions.push(v.trim());
        } else if (v !== undefined && v !== null) bad = true;
      }
    }
    if (image === '') issues.push(at('empty image name'));
    else if (bad) issues.push(at(`a caption of ${image} is not text`));
    else if (captions.length === 0) issues.push(at(`empty caption for ${image}`));
    else for (const caption of captions) entries.push({ ...where, image, caption });
  }
  // Records that could not be read are found before the rows are: report all in line order.
  issues.sort((a, b) => a.line - b.line);
  return { path, format, entries, issues };
}

/** The format of a table file: from its extension, else from its first line. */
export function tableFormatOf(path: string, text: string): TableFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  if (first.trimStart().startsWith('{')) return 'jsonl';
  return delimiterOf(first) === '\t' ? 'tsv' : 'csv';
}

/** The separator a header line uses most, outside quotes: comma, tab, semicolon or bar. */
function delimiterOf(line: string): string | undefined {
  const counts = new Map<string, number>();
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ',' || c === '\t' || c === ';' || c === '|'))
      counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [c, n] of counts) if (best === undefined || n > counts.get(best)!) best = c;
  return best;
}

function delimitedRows(
  text: string,
  path: string,
  format: 'csv' | 'tsv',
  issues: DataIssue[],
): { header: string[]; rows: Row[] } {
  const file = basename(path);
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
  const delimiter = format === 'tsv' ? '\t' : delimiterOf(first);
  if (!delimiter)
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: one column only: expected an image column and a caption column, separated by commas, tabs, ";" or "|"`,
    );
  const records = csvRecords(text, delimiter).filter(
    (r) => r.error || !(r.fields.length === 1 && r.fields[0].trim() === ''),
  );
  if (records.length === 0) throw new CaptionerError('DATA_FORMAT', `${path}: empty`);
  // A first row that names an image file is data: the file has no header.
  const headed = !records[0].fields.some((f) => IMAGE_NAME.test(f.trim()));
  const width = records[0].fields.length;
  const header = headed
    ? records[0].fields.map((f) => f.trim())
    : Array.from({ length: width }, (_, i) => `column ${i + 1}`);
  const rows: Row[] = [];
  for (const record of headed ? records.slice(1) : records) {
    if (record.error) {
      issues.push({ file, line: record.line, reason: record.error });
      continue;
    }
    let fields = record.fields;
    // Unquoted separators inside the last column (a caption, most often): rejoin them.
    if (fields.length > width && width >= 2)
      fields = [...fields.slice(0, width - 1), fields.slice(width - 1).join(delimiter)];
    if (fields.length !== width) {
      issues.push({
        file,
        line: record.line,
        reason: `${fields.length} fields where the header has ${width}`,
      });
      continue;
    }
    rows.push({ line: record.line, cells: new Map(header.map((h, i) => [h, fields[i]])) });
  }
  return { header, rows };
}

function jsonlRows(text: string, file: string, issues: DataIssue[]): { header: string[]; rows: Row[] } {
  const rows: Row[] = [];
  const header = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      issues.push({ file, line, reason: `not JSON: ${(error as Error).message}` });
      return;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      issues.push({ file, line, reason: 'not a JSON object' });
      return;
    }
    const cells = new Map(Object.entries(value));
    for (const key of cells.keys()) header.add(key);
    rows.push({ line, cells });
  });
  return { header: [...header], rows };
}

function jsonRows(text: string, path: string): { header: string[]; rows: Row[] } {
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed))
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: expected a JSON array of objects, one per image or caption`,
    );
  const header = new Set<string>();
  const rows: Row[] = parsed.map((value: unknown, i) => {
    const cells = new Map(
      value && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value) : [],
    );
    for (const key of cells.keys()) header.add(key);
    return { line: 0, at: `[${i}]`, cells };
  });
  return { header: [...header], rows };
}

function findColumn(header: string[], wanted: string, path: string, flag: string): string {
  if (/^\d+$/.test(wanted) && Number(wanted) >= 1 && Number(wanted) <= header.length)
    return header[Number(wanted) - 1];
  const found =
    header.find((h) => h === wanted) ??
    header.find((h) => h.toLowerCase() === wanted.toLowerCase()) ??
    header.find((h) => normaliseHeader(h) === normaliseHeader(wanted));
  if (!found)
    throw new CaptionerError(
      'USAGE',
      `${path}: ${flag} ${wanted}: no such column (columns: ${header.join(', ')})`,
    );
  return found;
}

/** Share of a column's first values that satisfy `test`. */
function share(rows: Row[], column: string, test: (v: string) => boolean): number {
  const sample = rows.slice(0, 200);
  const values = sample
    .map((r) => r.cells.get(column))
    .filter((v) => v !== undefined && v !== null && v !== '');
  if (values.length === 0) return 0;
  return (
    values.filter((v) => (Array.isArray(v) ? v.every((x) => test(String(x))) : test(String(v)))).length /
    values.length
  );
}

function pickImageColumn(header: string[], rows: Row[], wanted: string | undefined, path: string): string {
  if (wanted !== undefined) return findColumn(header, wanted, path, '--image-column');
  const byName = header.filter((h) => IMAGE_HEADERS.includes(normaliseHeader(h)));
  if (byName.length === 1) return byName[0];
  const pool = byName.length > 1 ? byName : header;
  const byContent = pool.filter((h) => share(rows, h, (v) => IMAGE_NAME.test(v.trim())) >= 0.9);
  if (byContent.length === 1) return byContent[0];
  throw new CaptionerError(
    'USAGE',
    `${path}: cannot tell which column names the image (${byName.length > 1 || byContent.length > 1 ? `${(byContent.length > 1 ? byContent : byName).join(', ')} all could` : 'no column holds image file names'}); name it with --image-column (columns: ${header.join(', ')})`,
  );
}

function pickCaptionColumns(
  header: string[],
  rows: Row[],
  imageColumn: string,
  wanted: string[] | undefined,
  path: string,
): string[] {
  if (wanted && wanted.length > 0) return wanted.map((w) => findColumn(header, w, path, '--caption-column'));
  const others = header.filter((h) => h !== imageColumn);
  const byName = others.filter((h) => CAPTION_HEADER.test(normaliseHeader(h)));
  const bases = new Set(byName.map((h) => normaliseHeader(h).replace(/\d+$/u, '')));
  // One caption column, or numbered ones of one name (caption1 … caption5): several captions a row.
  if (byName.length > 0 && bases.size === 1) return byName;
  const pool = byName.length > 1 ? byName : others;
  const byContent = pool.filter((h) => share(rows, h, (v) => /\p{L}+\s+\p{L}+/u.test(v)) >= 0.5);
  if (byContent.length === 1) return byContent;
  throw new CaptionerError(
    'USAGE',
    `${path}: cannot tell which column holds the captions (${byContent.length > 1 ? `${byContent.join(', ')} all could` : 'no column of sentences'}); name it with --caption-column (columns: ${header.join(', ')})`,
  );
}
