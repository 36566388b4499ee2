/** A problem found in the input data: reported, skipped, never fatal on its own. */
export interface DataIssue {
  file: string;
  /** 1-based line number, or 0 when the problem is not tied to a line (e.g. a missing image file). */
  line: number;
  reason: string;
}
