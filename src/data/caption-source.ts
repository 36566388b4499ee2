import type { CaptionFileFormat } from './caption-file.js';
import type { DataIssue } from './issues.js';
import type { Split } from './splits.js';

/** One raw caption of any caption file, with where it stands, for the report. */
export interface SourceCaption {
  /** The image as the file names it: a file name or a path, '/'-separated. */
  image: string;
  caption: string;
  /** The caption file's name. */
  file: string;
  /** 1-based line; 0 in JSON files, where `at` says where instead. */
  line: number;
  /** JSON location, e.g. `images[17].sentences[2]`. */
  at?: string;
  /** The split the file puts the image in (Karpathy's JSON, COCO's per-split files); null: in none. */
  split?: Split | null;
}

/** What one caption file holds, in any of the formats prepare reads. */
export interface CaptionSource {
  path: string;
  format: CaptionFileFormat;
  entries: SourceCaption[];
  issues: DataIssue[];
}

/** An issue at a caption's place: its line, or its JSON location in front of the reason. */
export function issueAt(where: Pick<SourceCaption, 'file' | 'line' | 'at'>, reason: string): DataIssue {
  return { file: where.file, line: where.line, reason: where.at ? `${where.at}: ${reason}` : reason };
}
