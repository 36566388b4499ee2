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

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

export function cleanCaption(caption: string, options: CleaningOptions = DEFAULT_CLEANING): string[] {
  let text = options.lowercase ? caption.toLowerCase() : caption;
  text = text.replace(PUNCTUATION, options.punctuation === 'remove' ? '' : ' ');
  return text
    .split(/\s+/)
    .filter((w) => w.length >= Math.max(1, options.minWordLength))
    .filter((w) => !options.dropDigits || !/\d/.test(w))
    .filter((w) => /^\p{L}+$/u.test(w) || !options.dropDigits);
}
