/**
 * The tokenizer coco-caption scores with: Stanford CoreNLP 3.4.1's PTBTokenizer run as
 * `-preserveLines -lowerCase`, then the tokens in COCO_PUNCTUATION dropped. This is a TypeScript
 * re-implementation of the PTB lexer rules that matter for captions (clitics, hyphenated words,
 * numbers, abbreviations, quotes, brackets, symbols), not a full port of the JFlex grammar.
 *
 * Two coco quirks are kept on purpose:
 * - The lower-casing happens before the punctuation filter, and the filter lists the brackets in upper
 *   case ("-LRB-"), so brackets survive as "-lrb-", "-rrb-", "-lcb-", "-rcb-", "-lsb-", "-rsb-".
 * - Only exact matches are dropped: "!!" or "?!" (one PTB token) survive.
 */

/** coco-caption's PUNCTUATIONS, verbatim (compared with the lower-cased tokens, hence the quirk above). */
export const COCO_PUNCTUATION: ReadonlySet<string> = new Set([
  "''",
  "'",
  '``',
  '`',
  '-LRB-',
  '-RRB-',
  '-LCB-',
  '-RCB-',
  '.',
  '?',
  '!',
  ',',
  ':',
  '-',
  '--',
  '...',
  ';',
]);

/** Tokens as coco-caption scores them: PTB tokens, lower-cased, punctuation dropped. */
export function cocoTokenize(text: string): string[] {
  return ptbTokenize(text)
    .map((t) => t.toLowerCase())
    .filter((t) => !COCO_PUNCTUATION.has(t));
}

// Character classes. APOS: straight and right single quotes; APOSX adds backquote and left quotes.
const L = String.raw`\p{L}`;
const LD = String.raw`[\p{L}\p{M}\p{Nd}\u00AD]`;
const AN = String.raw`[\p{L}\p{Nd}]`;
const APOS = String.raw`['\u2019\u00B4\u0092]`;
const APOSX = String.raw`['\u2019\u00B4\u0092\u0060\u2018\u201B\u0091]`;

/** A PTB word: letters and digits, with dots, ! or ? allowed only between letters ("a.m", "site.com"). */
const WORD = `${L}${LD}*(?:[.!?]${L}${LD}*)*`;
/** Hyphenated words and numbers stay one token ("tri-colored", "4-wheeler", "o'neil-smith"). */
// A number or an alphanumeric run; written so that the regex's first success is the longest ("3.5", "3rd").
const NUM_OR_AN = `(?:\\d*(?:[.:,]\\d+)+|${AN}+(?:[.:,]\\d+)*)`;
const THING_PART = `(?:[dDoOlL]${APOSX}${AN})?${NUM_OR_AN}`;
// Only a number may carry a sign: "-5", but "-eye-view" is "-" then "eye-view".
const THING = `(?:[dDoOlL]${APOSX}${AN})?(?:[-+]\\d*(?:[.:,]\\d+)+|[-+]\\d+(?:[.:,]\\d+)*|${NUM_OR_AN})(?:-${THING_PART})*`;
/** Clitics split off their word: 's 'm 'd 're 've 'll (any case), and n't. */
const REDAUX = `${APOSX}(?:[msdMSD]|[rR][eE]|[vV][eE]|[lL][lL])`;
const SREDAUX = `[nN]${APOSX}[tT]`;
/** A word that can carry n't: it must not end in n ("do|n't", "ca|n't", "wo|n't"). */
const SWORD = String.raw`[\p{L}\u00AD]*[A-MO-Za-mo-z]\u00AD*`;
/** Words that keep their apostrophe (subset of PTB's APOWORD): 'n', o'clock, 'em, '90s, 'til, shi'ite. */
const APOWORD = [
  `${APOS}[nN]${APOS}?`,
  `[lLdDjJ]${APOS}`,
  `(?:[dD]unkin|[sS]omethin|[oO]l)${APOS}`,
  `${APOS}[eE][mM]`,
  `[A-HJ-XZn]${APOSX}${L}{2}${L}*`,
  `${APOS}[2-9]0s`,
  `${APOS}[tT][iI][lL][lL]?`,
  `${L}+[aeiouyAEIOUY]${APOSX}[aeiouA-Z]${L}*`,
  `${APOS}[cC][aA][uU][sS][eE]`,
  `[cC][oO][nN][tT]'[dD]\\.?`,
  `[nN][oO][rR]'[eE][aA][sS][tT][eE][rR]`,
  `[cC]'[mM][oO][nN]`,
  `[eE]'[eE][rR]`,
  `[sS]'[mM][oO][rR][eE][sS]`,
  `[eE][vV]'[rR][yY]`,
  `[lL][iI]'[lL]`,
  `[nN][aA][tT]'[lL]`,
].join('|');
/** Abbreviations that keep their period (PTB's ABBREV lists, the common ones), and acronyms "u.s.". */
const ABBREV = String.raw`(?:[A-Za-z](?:\.[A-Za-z])*|Mrs?|Ms|Drs?|Profs?|Jr|Sr|St[ae]?|Mt|Ft|Sens?|Reps?|Gov|Gen|Lt|Col|Capt|Sgt|Cpl|Pvt|Maj|Adm|Rev|Hon|Messrs|Inc|Cos?|Corp|Ltd|Plc|Bros|Assn|Univ|Dept|Ave|Blvd|Rd|vs|etc|al|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Mon|Tue|Tues|Wed|Thu|Thurs|Fri|Calif|Fla|Mass|Penn|Tenn|Tex|Wash|approx|Esq)\.`;

interface Rule {
  /** Sticky regex: group 1 is the token, group 2 (inside a lookahead) the trailing context. */
  re: RegExp;
  /** Output for the matched text; default the text itself. */
  out?: (text: string) => string;
}

const quote = (text: string) => (text.includes('"') || text.length > 1 ? "''" : "'");
const normaliseApostrophes = (text: string) => text.replace(/[\u2019\u00B4\u0092`\u2018\u201B\u0091]/g, "'");

function rule(token: string, context?: string, out?: Rule['out'], flags = ''): Rule {
  const source = context === undefined ? `(${token})()` : `(${token})(?=(${context}))`;
  return { re: new RegExp(source, 'uy' + flags), out };
}

// Rules in priority order; the longest match (token plus trailing context) wins, ties go to the first,
// as in JFlex.
const RULES: Rule[] = [
  // Assimilations split in two: cannot → can not, 'tis → 't is, gonna → gon na, wanna, gotta, lemme, gimme.
  rule('can', 'not', undefined, 'i'),
  rule(`${APOS}t`, '(?:is|was)(?![\\p{L}])', normaliseApostrophes, 'i'),
  rule('gon(?=na)|got(?=ta)|lem(?=me)|gim(?=me)|wan(?=na)', '\\p{L}{2}(?![\\p{L}])', undefined, 'i'),
  rule(WORD, `${REDAUX}(?![A-Za-z])`),
  rule(SWORD, `${SREDAUX}(?![A-Za-z])`),
  rule(APOWORD, undefined, normaliseApostrophes),
  rule(WORD),
  rule(THING),
  rule(ABBREV),
  rule('[A-Z]+(?:[+&][A-Z]+)+'),
  rule(REDAUX, '(?![A-Za-z])', normaliseApostrophes),
  rule(SREDAUX, '(?![A-Za-z])', normaliseApostrophes),
  rule(`(?:${APOSX}|["\\u201C\\u201D\\u201E\\u201F\\u00AB\\u00BB\\u2039\\u203A]){1,2}`, undefined, quote),
  rule('\\.\\.\\.+|\\u2026', undefined, () => '...'),
  rule('-{2,}|[\\u2013\\u2014\\u2015]', undefined, () => '--'),
  rule('-'),
  rule('\\('),
  rule('\\)'),
  rule('\\['),
  rule('\\]'),
  rule('\\{'),
  rule('\\}'),
  rule('[?!]+'),
  rule('=+|@+|#+|_+|\\*+'),
  rule('[.,;:/$%&+<>|~^\\\\]'),
  rule('[\\p{S}\\p{P}]'),
];

const BRACKETS: Record<string, string> = {
  '(': '-LRB-',
  ')': '-RRB-',
  '[': '-LSB-',
  ']': '-RSB-',
  '{': '-LCB-',
  '}': '-RCB-',
};

/**
 * PTB tokens of one line, in their original case, brackets as -LRB- etc., quotes as `` '' ` '.
 * Characters no rule accepts (controls, unassigned) are dropped, as the Stanford tokenizer does.
 */
export function ptbTokenize(text: string): string[] {
  const tokens: string[] = [];
  const line = text.normalize('NFC');
  let i = 0;
  while (i < line.length) {
    const ws = /\s+/uy;
    ws.lastIndex = i;
    const space = ws.exec(line);
    if (space) {
      i += space[0].length;
      continue;
    }
    let best: { token: string; total: number; out?: Rule['out'] } | undefined;
    for (const r of RULES) {
      r.re.lastIndex = i;
      const m = r.re.exec(line);
      if (!m || m[1].length === 0) continue;
      const total = m[1].length + (m[2]?.length ?? 0);
      if (!best || total > best.total) best = { token: m[1], total, out: r.out };
    }
    if (!best) {
      i += String.fromCodePoint(line.codePointAt(i)!).length;
      continue;
    }
    const token = best.out ? best.out(best.token) : best.token;
    tokens.push(BRACKETS[token] ?? token);
    i += best.token.length;
  }
  return tokens;
}
