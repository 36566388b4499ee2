import { SPECIAL_TOKENS } from '../data/vocabulary.js';
import { danglingIds } from './caption-rules.js';
import type { ResolvedDecodeOptions } from './options.js';

/**
 * Which next tokens a hypothesis may take; one implementation for beam and greedy search.
 *
 * - Never the specials other than END (PAD, START, UNK); END not as the first token (an empty caption).
 * - The length limit: a caption of `maxLength` words may only end.
 * - Trigram blocking: no word that would repeat a word trigram the caption already holds.
 * - The bad-ending rule (`dangling` ids given): END not right after a dangling word ("a man in a"). So
 *   that a caption can always finish within the limit, the last word allowed (word `maxLength`) may not
 *   be a dangling one: a hypothesis that reaches the limit ends on its best non-dangling word. Should
 *   every such word be blocked (not with a real vocabulary), the limit wins: END is allowed at
 *   `maxLength` words whatever the last word.
 */
export class NextTokenRules {
  constructor(
    private readonly maxLength: number,
    private readonly blockTrigrams: boolean,
    private readonly dangling?: ReadonlySet<number>,
  ) {}

  /** The caption is as long as allowed: only END may follow. */
  mustEnd(words: readonly number[]): boolean {
    return words.length >= this.maxLength;
  }

  endAllowed(words: readonly number[]): boolean {
    const n = words.length;
    if (n === 0) return false;
    return n >= this.maxLength || !this.dangling?.has(words[n - 1]);
  }

  /**
   * Words that may not come next (besides the specials): those that would repeat a trigram (they followed
   * the caption's last two words before) and, as the last word allowed, the dangling ones.
   */
  blocked(words: readonly number[]): ReadonlySet<number> | undefined {
    const n = words.length;
    let blocked: Set<number> | undefined;
    if (this.blockTrigrams && n >= 3) {
      const a = words[n - 2];
      const b = words[n - 1];
      for (let i = 0; i + 2 < n; i++) {
        if (words[i] === a && words[i + 1] === b) (blocked ??= new Set()).add(words[i + 2]);
      }
    }
    if (this.dangling && this.dangling.size > 0 && n === this.maxLength - 1) {
      if (!blocked) return this.dangling;
      for (const id of this.dangling) blocked.add(id);
    }
    return blocked;
  }
}

/** The first id that is a word (ids below are the specials). */
export const FIRST_WORD = SPECIAL_TOKENS.length;

/** The rules that resolved options ask for, the dangling words mapped to this vocabulary's ids. */
export function rulesFor(
  options: Pick<ResolvedDecodeOptions, 'maxLength' | 'blockTrigrams' | 'badEndings'>,
  vocabulary: { readonly tokens: readonly string[] },
): NextTokenRules {
  return new NextTokenRules(
    options.maxLength,
    options.blockTrigrams,
    options.badEndings ? danglingIds(vocabulary) : undefined,
  );
}
