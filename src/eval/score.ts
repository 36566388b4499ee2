import { CaptionerError } from '../util/errors.js';
import { corpusBleu } from './bleu.js';
import { corpusCiderD, mean } from './cider.js';
import { cocoTokenize } from './ptb-tokenizer.js';
import { rougeL } from './rouge.js';

/**
 * coco-caption's metrics, as fractions exactly as pycocoevalcap returns them: BLEU and ROUGE-L in 0..1,
 * CIDEr-D on its own 0..10 scale (so 0.46 is the "46.0" papers print). Multiply by 100 for the
 * literature's figures (formatScores does). METEOR and SPICE are left out: they need Java jars.
 */
export interface CaptionScores {
  bleu1: number;
  bleu2: number;
  bleu3: number;
  bleu4: number;
  rougeL: number;
  ciderD: number;
  /** Distinct candidate captions after coco tokenization ("A dog." and "a dog" are one). */
  distinct: number;
  /** Images scored (one candidate each). */
  images: number;
}

export const METRICS = ['bleu1', 'bleu2', 'bleu3', 'bleu4', 'rougeL', 'ciderD'] as const;
export type Metric = (typeof METRICS)[number];

/**
 * Scores one candidate caption per image against that image's raw references, both tokenized like
 * coco-caption. The images scored are the candidates' keys; each must have at least one reference.
 * References of other images are ignored (they would change CIDEr-D's document frequencies).
 */
export function scoreCaptions(
  candidates: ReadonlyMap<string, string>,
  references: ReadonlyMap<string, readonly string[]>,
): CaptionScores {
  const { candidates: cands, references: refs } = tokenizeForScoring(candidates, references);
  return scoreTokenized(cands, refs);
}

/**
 * The candidates and their images' references tokenized like coco-caption, in the candidates' order
 * (index i of both lists is one image); each image must have at least one reference.
 */
export function tokenizeForScoring(
  candidates: ReadonlyMap<string, string>,
  references: ReadonlyMap<string, readonly string[]>,
): { images: string[]; candidates: string[][]; references: string[][][] } {
  if (candidates.size === 0) throw new CaptionerError('EVAL_EMPTY', 'no captions to score');
  const images: string[] = [];
  const cands: string[][] = [];
  const refs: string[][][] = [];
  for (const [image, caption] of candidates) {
    const imageRefs = references.get(image);
    if (!imageRefs || imageRefs.length === 0) {
      throw new CaptionerError('EVAL_NO_REFERENCES', `no reference captions for ${image}`);
    }
    images.push(image);
    cands.push(cocoTokenize(caption));
    refs.push(imageRefs.map(cocoTokenize));
  }
  return { images, candidates: cands, references: refs };
}

/** The metrics on already tokenized captions (index i of both lists is one image). */
export function scoreTokenized(candidates: string[][], references: string[][][]): CaptionScores {
  const bleu = corpusBleu(candidates, references, 4).scores;
  return {
    bleu1: bleu[0],
    bleu2: bleu[1],
    bleu3: bleu[2],
    bleu4: bleu[3],
    rougeL: mean(candidates.map((c, i) => rougeL(c, references[i]))),
    ciderD: corpusCiderD(candidates, references).score,
    distinct: new Set(candidates.map((c) => c.join(' '))).size,
    images: candidates.length,
  };
}

const LABELS: Record<Metric, string> = {
  bleu1: 'BLEU-1',
  bleu2: 'BLEU-2',
  bleu3: 'BLEU-3',
  bleu4: 'BLEU-4',
  rougeL: 'ROUGE-L',
  ciderD: 'CIDEr-D',
};

/** The metric table as people read it: ×100, one decimal, plus the distinct-caption count. */
export function formatScores(scores: CaptionScores, title?: string): string {
  const lines = title ? [title, ''] : [];
  for (const m of METRICS) lines.push(`  ${LABELS[m].padEnd(8)} ${(scores[m] * 100).toFixed(1).padStart(6)}`);
  const share = ((scores.distinct / Math.max(1, scores.images)) * 100).toFixed(1);
  lines.push(
    '',
    `  images ${scores.images}, distinct captions ${scores.distinct} (${share}%)`,
    '  (coco-caption definitions, ×100; METEOR and SPICE not computed: they need Java)',
  );
  return lines.join('\n') + '\n';
}
