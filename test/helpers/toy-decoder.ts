import type { DecoderState, StepDecoder, StepResult } from '../../src/model/step-decoder.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

/** Words of the toy vocabulary: ids 4.. in this order. */
export const TOY_WORDS = ['a', 'the', 'dog', 'cat', 'big', 'runs'] as const;
export const toyVocabulary = new Vocabulary({
  version: 1,
  minCount: 1,
  tokens: ['<pad>', '<start>', '<end>', '<unk>', ...TOY_WORDS],
  counts: [0, 0, 0, 0, ...TOY_WORDS.map(() => 1)],
});

/** Next-token probabilities given the last token fed, by token name ('<start>', 'a', …). */
export type Table = Record<string, Record<string, number>>;

interface ToyState extends DecoderState {
  /** Table index of each row (which image it belongs to). */
  tables: Int32Array;
}

/** Log-probability of anything a table does not list: unlikely but finite, like a real softmax. */
export const UNLISTED = -20;

/**
 * A decoder whose next-token distribution depends only on the token just fed, through a hand-made
 * table; image i uses tables[images[i][0]]. Counts its calls and the rows of each step.
 */
export class ToyDecoder implements StepDecoder {
  readonly vocabSize = toyVocabulary.size;
  readonly stepRows: number[] = [];
  private readonly rows: Float32Array[][];

  constructor(tables: Table[]) {
    this.rows = tables.map((table) =>
      toyVocabulary.tokens.map((_, fed) => {
        const row = new Float32Array(this.vocabSize).fill(UNLISTED);
        for (const [word, p] of Object.entries(table[toyVocabulary.tokens[fed]] ?? {}))
          row[tokenId(word)] = Math.log(p);
        return row;
      }),
    );
  }

  async start(images: Float32Array[]): Promise<ToyState> {
    return { rows: images.length, tables: Int32Array.from(images, (v) => v[0]) };
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as ToyState;
    if (tokens.length !== s.rows) throw new Error(`${tokens.length} tokens for ${s.rows} rows`);
    this.stepRows.push(s.rows);
    const logProbs = new Float32Array(s.rows * this.vocabSize);
    for (let r = 0; r < s.rows; r++) logProbs.set(this.rows[s.tables[r]][tokens[r]], r * this.vocabSize);
    return { logProbs, state: s };
  }

  select(state: DecoderState, rows: Int32Array): ToyState {
    const s = state as ToyState;
    return { rows: rows.length, tables: Int32Array.from(rows, (r) => s.tables[r]) };
  }

  dispose(): void {}
}

export function tokenId(word: string): number {
  const id = toyVocabulary.tokens.indexOf(word);
  if (id < 0) throw new Error(`no token ${word}`);
  return id;
}

/** Image vectors that pick tables 0, 1, … */
export function images(...tables: number[]): Float32Array[] {
  return tables.map((t) => Float32Array.of(t));
}
