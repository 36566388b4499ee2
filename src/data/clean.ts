/**
 * Caption cleaning, as the Keras tutorials do it but explicit: lower-case, strip punctuation, drop words
 * with digits. Unlike the tutorials we keep one-letter words by default: dropping "a" makes every caption
 * ungrammatical and costs BLEU against references that have it.
 */
export interface CleaningOptions {
  lowercase: boolean;
  /**
   * 'split' (default) breaks words at punctuation ("tri-colored" → "tri colored"); 'remove' joins them
   * ("tricolored"), as the tutorials do, which turns common words into rare ones.
   */
  punctuation: 'remove' | 'split';
  /** Drop tokens that hold a digit ("2", "3rd"), as the tutorials' isalpha() filter does. */
  dropDigits: boolean;
  /** Words shorter than this are dropped; 1 keeps "a". */
  minWordLength: number;
}

export const DEFAULT_CLEANING: CleaningOptions = {
  lowercase: true,
  punctuation: 'split',
  dropDigits: true,
  minWordLength: 1,
};

/** ASCII punctuation and every Unicode punctuation mark or symbol (’ « » „ “ — …). */
const PUNCTUATION = /[\p{P}\p{S}]/gu;

/**
 * French elision ("l'été", "qu'il", "s'amuse"): in split mode the clitic keeps its apostrophe, as a
 * modifier letter apostrophe (U+02BC, a letter), so that it stays one word ("lʼ") that the vocabulary
 * joins back to the next one ("l'été"), instead of a lone "s" read as an English possessive.
 */
export const ELISION_MARK = '\u02BC';
const ELISION = /(^|[^\p{L}\p{M}])(qu|[cdjlmnst])['\u2019](?=[\p{L}\p{M}]{2})/giu;

export function cleanCaption(caption: string, options: CleaningOptions = DEFAULT_CLEANING): string[] {
  // NFC: "é" typed as e + a combining accent is one letter, as in the other captions.
  let text = caption.normalize('NFC');
  if (options.lowercase) text = text.toLowerCase();
  if (options.punctuation === 'split') text = text.replace(ELISION, `$1$2${ELISION_MARK} `);
  text = text.replace(PUNCTUATION, options.punctuation === 'remove' ? '' : ' ');
  return text
    .split(/\s+/)
    .filter((w) => w.length >= Math.max(1, options.minWordLength))
    .filter((w) => !options.dropDigits || !/\d/.test(w))
    .filter((w) => /^[\p{L}\p{M}]+$/u.test(w) || !options.dropDigits);
}
