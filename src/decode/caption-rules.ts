// The decoding hygiene rules as data and checks, free of Node imports: the search (Node and, later, the
// browser) and the evaluation report share them.

/** Longest caption, in words, unless a caller asks otherwise. */
export const DEFAULT_MAX_LENGTH = 20;

/** The longest caption a model writes unless asked: 20 words, or its longest training caption if shorter. */
export function defaultMaxLength(modelMaxCaptionLength?: number): number {
  return Math.min(DEFAULT_MAX_LENGTH, modelMaxCaptionLength || DEFAULT_MAX_LENGTH);
}

/**
 * Words a caption may not end on: they promise a word that never comes ("a man in a", "a dog with").
 * Articles and determiners, prepositions, conjunctions, auxiliaries, relative pronouns and the
 * possessive "s" (cleaning splits "dog's" into "dog s"). Left out on purpose, because human captions end
 * on them: particles and adverbs ("up", "down", "out", "off", "over", "around", "outside", "together"),
 * "her", "another" ("one another"), "by" ("walks by"), "behind", "above" and numbers. "on" ends 2% of
 * Flickr8k's references ("with a hat on") and "in" 0.1%: they are dangling far more often in model
 * output, so they are in.
 */
export const DANGLING_WORDS: readonly string[] = [
  // articles, determiners, possessives
  'a',
  'an',
  'the',
  'this',
  'that',
  'these',
  'those',
  'his',
  'their',
  'its',
  'some',
  'several',
  'each',
  'every',
  's',
  // prepositions
  'with',
  'of',
  'in',
  'on',
  'at',
  'to',
  'for',
  'from',
  'into',
  'onto',
  'near',
  'under',
  'across',
  'through',
  'toward',
  'towards',
  'between',
  'during',
  'against',
  'among',
  'beside',
  'like',
  'as',
  // conjunctions
  'and',
  'or',
  'but',
  'while',
  'than',
  // auxiliaries
  'is',
  'are',
  'was',
  'were',
  'be',
  'being',
  'been',
  'has',
  'have',
  // relative pronouns, intensifiers
  'who',
  'which',
  'whose',
  'very',
];

const DANGLING = new Set(DANGLING_WORDS);
const danglingCache = new WeakMap<object, ReadonlySet<number>>();

/**
 * The vocabulary ids of the dangling words (those it holds), computed once per vocabulary object.
 */
export function danglingIds(vocabulary: { readonly tokens: readonly string[] }): ReadonlySet<number> {
  let ids = danglingCache.get(vocabulary);
  if (!ids) {
    const found = new Set<number>();
    vocabulary.tokens.forEach((token, id) => DANGLING.has(token) && found.add(id));
    ids = found;
    danglingCache.set(vocabulary, ids);
  }
  return ids;
}

/** Whether a word (as printed: "dog's" counts as ending in the possessive) leaves a caption dangling. */
export function isDanglingWord(word: string): boolean {
  const w = word.toLowerCase();
  return DANGLING.has(w) || w.endsWith("'s");
}

/** The words of a printed caption. */
export function captionWords(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

/** The first word trigram a caption repeats ("a man in a man in" → "a man in"), if any. */
export function repeatedTrigram(words: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (let i = 0; i + 2 < words.length; i++) {
    const gram = `${words[i]} ${words[i + 1]} ${words[i + 2]}`;
    if (seen.has(gram)) return gram;
    seen.add(gram);
  }
  return undefined;
}

/** What is wrong with a printed caption under the decoding rules (empty when nothing is). */
export interface CaptionProblems {
  repeatedTrigram?: string;
  danglingEnd?: string;
  /** Its word count, when over the limit. */
  tooLong?: number;
}

export function captionProblems(text: string, maxLength = DEFAULT_MAX_LENGTH): CaptionProblems {
  const words = captionWords(text);
  const problems: CaptionProblems = {};
  const gram = repeatedTrigram(words);
  if (gram) problems.repeatedTrigram = gram;
  const last = words[words.length - 1];
  if (last !== undefined && isDanglingWord(last)) problems.danglingEnd = last;
  if (words.length > maxLength) problems.tooLong = words.length;
  return problems;
}
