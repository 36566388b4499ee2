import { readFile } from 'node:fs/promises';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';
import { ELISION_MARK } from './clean.js';

/** Special ids come first and are never words: they cannot leak into captions or scores. */
export const PAD = 0;
export const START = 1;
export const END = 2;
export const UNK = 3;
export const SPECIAL_TOKENS = ['<pad>', '<start>', '<end>', '<unk>'] as const;

export interface VocabularyJson {
  version: 1;
  minCount: number;
  /** Id → token; the first four are the specials. */
  tokens: string[];
  /** Train-split count of each token (0 for specials). */
  counts: number[];
}

export class Vocabulary {
  readonly tokens: readonly string[];
  readonly counts: readonly number[];
  readonly minCount: number;
  private readonly ids: Map<string, number>;

  constructor(json: VocabularyJson) {
    SPECIAL_TOKENS.forEach((t, i) => {
      if (json.tokens[i] !== t) throw new CaptionerError('VOCAB_INVALID', `vocabulary: id ${i} must be ${t}`);
    });
    if (json.counts.length !== json.tokens.length) {
      throw new CaptionerError('VOCAB_INVALID', 'vocabulary: tokens and counts differ in length');
    }
    this.tokens = json.tokens;
    this.counts = json.counts;
    this.minCount = json.minCount;
    this.ids = new Map(json.tokens.map((t, i) => [t, i]));
    if (this.ids.size !== json.tokens.length)
      throw new CaptionerError('VOCAB_INVALID', 'vocabulary: duplicate tokens');
  }

  /** Every id, specials included: the size of the model's embedding and output layers. */
  get size(): number {
    return this.tokens.length;
  }

  /** Real words only. */
  get wordCount(): number {
    return this.tokens.length - SPECIAL_TOKENS.length;
  }

  id(word: string): number {
    return this.ids.get(word) ?? UNK;
  }

  encode(words: readonly string[]): number[] {
    return words.map((w) => this.id(w));
  }

  /**
   * Ids to text; specials are dropped, never printed. Cleaning split "dog's" into "dog s": the lone "s"
   * is joined back ("dog's"), which is also how references tokenize for scoring ("dog 's"); a French
   * clitic ("lʼ", see ELISION_MARK) is joined to the next word ("l'été").
   */
  decode(ids: Iterable<number>): string {
    const words: string[] = [];
    for (const id of ids) {
      if (id === END) break;
      if (id < SPECIAL_TOKENS.length || id >= this.tokens.length) continue;
      const word = this.tokens[id];
      const last = words.length - 1;
      if (word === 's' && last >= 0) words[last] += "'s";
      else if (last >= 0 && words[last].endsWith(ELISION_MARK))
        words[last] = words[last].slice(0, -1) + "'" + word;
      else words.push(word);
    }
    return words.map((w) => (w.endsWith(ELISION_MARK) ? w.slice(0, -1) + "'" : w)).join(' ');
  }

  /** Words seen at least `minCount` times, most frequent first, ties alphabetical: stable ids. */
  static build(captions: Iterable<readonly string[]>, minCount = 5): Vocabulary {
    const counts = new Map<string, number>();
    for (const words of captions) for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
    const kept = [...counts]
      .filter(([w, c]) => c >= minCount && !(SPECIAL_TOKENS as readonly string[]).includes(w))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return new Vocabulary({
      version: 1,
      minCount,
      tokens: [...SPECIAL_TOKENS, ...kept.map(([w]) => w)],
      counts: [...SPECIAL_TOKENS.map(() => 0), ...kept.map(([, c]) => c)],
    });
  }

  toJSON(): VocabularyJson {
    return { version: 1, minCount: this.minCount, tokens: [...this.tokens], counts: [...this.counts] };
  }

  async save(path: string): Promise<void> {
    await writeJsonAtomic(path, this.toJSON());
  }

  static async load(path: string): Promise<Vocabulary> {
    let json: VocabularyJson;
    try {
      json = JSON.parse(await readFile(path, 'utf8')) as VocabularyJson;
    } catch (error) {
      throw new CaptionerError(
        'VOCAB_INVALID',
        `cannot read vocabulary ${path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (json.version !== 1 || !Array.isArray(json.tokens)) {
      throw new CaptionerError('VOCAB_INVALID', `${path} is not a captioner vocabulary`);
    }
    return new Vocabulary(json);
  }
}
