import { END, SPECIAL_TOKENS } from '../data/vocabulary.js';

/**
 * Which next tokens a hypothesis may take. Never the specials other than END (PAD, START, UNK); END
 * not as the first token (an empty caption); only END once the caption has `maxLength` words; with
 * trigram blocking, no word that would repeat a trigram of the caption.
 */
export class NextTokenRules {
  constructor(
    private readonly maxLength: number,
    private readonly blockTrigrams: boolean,
  ) {}

  /** -1 for "any word", else the only token allowed (END at the length limit). */
  onlyToken(words: readonly number[]): number {
    return words.length >= this.maxLength ? END : -1;
  }

  endAllowed(words: readonly number[]): boolean {
    return words.length > 0;
  }

  /** Words that would repeat a trigram: those that followed the caption's last two words before. */
  blocked(words: readonly number[]): Set<number> | undefined {
    const n = words.length;
    if (!this.blockTrigrams || n < 3) return undefined;
    const a = words[n - 2];
    const b = words[n - 1];
    let blocked: Set<number> | undefined;
    for (let i = 0; i + 2 < n; i++) {
      if (words[i] === a && words[i + 1] === b) (blocked ??= new Set()).add(words[i + 2]);
    }
    return blocked;
  }
}

/** The first id that is a word (ids below are the specials). */
export const FIRST_WORD = SPECIAL_TOKENS.length;
