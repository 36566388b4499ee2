import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { beamSearch } from '../../src/decode/beam-search.js';
import {
  captionProblems,
  DANGLING_WORDS,
  danglingIds,
  DEFAULT_MAX_LENGTH,
  repeatedTrigram,
} from '../../src/decode/caption-rules.js';
import { greedySearch } from '../../src/decode/greedy.js';
import type { DecodeOptions } from '../../src/decode/options.js';
import { Rng } from '../../src/util/random.js';
import { images, ToyDecoder, tokenId, TOY_WORDS, toyVocabulary, type Table } from '../helpers/toy-decoder.js';

const search = (table: Table, options: DecodeOptions) =>
  beamSearch(new ToyDecoder([table]), images(0), toyVocabulary, options);
const texts = (captions: { text: string }[][]) => captions[0].map((c) => c.text);
const words = (text: string) => text.split(' ');

// "dog runs a dog runs a …": every step's best word continues the loop.
const LOOP: Table = {
  '<start>': { dog: 1 },
  dog: { runs: 0.7, '<end>': 0.3 },
  runs: { a: 0.9, '<end>': 0.1 },
  a: { dog: 1 },
};

test('trigram blocking is on by default, in greedy and beam search; blockTrigrams: false turns it off', async () => {
  for (const beam of [1, 3]) {
    const off = await search(LOOP, { beam, blockTrigrams: false, badEndings: false });
    if (beam === 1) {
      // Greedy loops until the length limit (20 words by default) and ends on "runs" or "a"...
      assert.equal(words(off[0][0].text).length, DEFAULT_MAX_LENGTH);
      assert.ok(repeatedTrigram(words(off[0][0].text)));
    }
    // ...while with the rules, "dog runs a dog runs" may not go on with "a" (it would repeat "dog runs a"),
    // and the end follows.
    const on = await search(LOOP, { beam });
    for (const text of texts(on)) assert.equal(repeatedTrigram(words(text)), undefined, text);
    if (beam === 1) assert.equal(on[0][0].text, 'dog runs a dog runs');
    // The deprecated name still works.
    const old = await search(LOOP, { beam, blockRepeatedTrigrams: false, badEndings: false });
    assert.deepEqual(old, off);
  }
});

// "dog runs a": after "runs", "a" (0.6) beats the end (0.4), and after "a" the end (0.7) beats "cat".
const ENDS_ON_A: Table = {
  '<start>': { dog: 1 },
  dog: { runs: 1 },
  runs: { a: 0.6, '<end>': 0.4 },
  a: { '<end>': 0.7, cat: 0.3 },
  cat: { '<end>': 1 },
};

test('the bad-ending rule: no caption ends right after a dangling word; badEndings: false allows it', async () => {
  assert.deepEqual(texts(await search(ENDS_ON_A, { beam: 1, badEndings: false })), ['dog runs a']);
  // Greedy: the end is not allowed after "a", so "cat" (0.3) follows: 1·1·0.6·0.3·1.
  const [[greedy]] = await search(ENDS_ON_A, { beam: 1 });
  assert.equal(greedy.text, 'dog runs a cat');
  assert.ok(Math.abs(greedy.logProb - Math.log(0.6 * 0.3)) < 1e-5);
  // Beam 3 without the rule: "dog runs a" (0.42) beats "dog runs" (0.4) and "dog runs a cat" (0.18).
  assert.deepEqual(texts(await search(ENDS_ON_A, { beam: 3, badEndings: false })), [
    'dog runs a',
    'dog runs',
    'dog runs a cat',
  ]);
  // With it, "dog runs a" is never finished (the third caption is one of the unlikely rest).
  const beam = texts(await search(ENDS_ON_A, { beam: 3 }));
  assert.deepEqual(beam.slice(0, 2), ['dog runs', 'dog runs a cat']);
  for (const text of beam) assert.equal(captionProblems(text).danglingEnd, undefined, text);
});

// At a limit of 3 words, "dog runs" can only take one more word, and the most likely are dangling.
const DANGLING_AT_LIMIT: Table = {
  '<start>': { dog: 1 },
  dog: { runs: 1 },
  runs: { a: 0.5, the: 0.3, big: 0.15, '<end>': 0.05 },
  a: { '<end>': 1 },
  the: { '<end>': 1 },
  big: { '<end>': 1 },
};

test('at the length limit the last word is the best non-dangling one, then the end is forced', async () => {
  for (const beam of [1, 2, 3]) {
    const off = await search(DANGLING_AT_LIMIT, { beam, maxLength: 3, badEndings: false });
    assert.equal(off[0][0].text, 'dog runs a', `beam ${beam}`);
    const on = await search(DANGLING_AT_LIMIT, { beam, maxLength: 3 });
    // "big" (0.15) beats ending at "dog runs" (0.05); "a" and "the" may not be the third word.
    assert.deepEqual(texts(on)[0], 'dog runs big', `beam ${beam}`);
    for (const text of texts(on)) {
      assert.ok(words(text).length <= 3, text);
      assert.deepEqual(captionProblems(text, 3), {}, text);
    }
  }
});

// Never ends: "dog a dog a …"; "a" is the 20th word's only likely choice.
const NO_END: Table = {
  '<start>': { dog: 1 },
  dog: { a: 1 },
  a: { dog: 1 },
};

test('no caption runs over 20 words by default, nor ends dangling at the limit', async () => {
  for (const beam of [1, 3]) {
    for (const blockTrigrams of [false, true]) {
      const [captions] = await search(NO_END, { beam, blockTrigrams });
      assert.ok(captions.length > 0);
      for (const c of captions) {
        assert.ok(c.tokens.length <= DEFAULT_MAX_LENGTH, c.text);
        const { repeatedTrigram: repeated, ...rest } = captionProblems(c.text);
        assert.deepEqual(rest, {}, c.text);
        if (blockTrigrams) assert.equal(repeated, undefined, c.text);
      }
      if (!blockTrigrams) assert.equal(captions[0].tokens.length, DEFAULT_MAX_LENGTH);
    }
  }
  const [[long]] = await search(NO_END, { beam: 1, maxLength: 30, blockTrigrams: false });
  assert.equal(long.tokens.length, 30);
});

/** A table in which every token is followed by random probabilities over every word and the end. */
function randomTable(seed: number): Table {
  const rng = new Rng(seed);
  const table: Table = {};
  for (const fed of ['<start>', ...TOY_WORDS]) {
    const row: Record<string, number> = {};
    let sum = 0;
    for (const next of [...TOY_WORDS, '<end>']) sum += row[next] = rng.next() ** 3;
    for (const next of Object.keys(row)) row[next] /= sum;
    table[fed] = row;
  }
  return table;
}

test('random decoders: every caption of greedy and beam search keeps the rules', async () => {
  const dangling = danglingIds(toyVocabulary);
  assert.deepEqual([...dangling].sort(), [tokenId('a'), tokenId('the')]);
  let checked = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const table = randomTable(seed);
    for (const beam of [1, 2, 4]) {
      for (const maxLength of [1, 2, 5, 20]) {
        const [captions] = await search(table, { beam, maxLength, lengthPenalty: seed % 2 ? 0.7 : 0 });
        assert.ok(captions.length > 0, `seed ${seed} beam ${beam} maxLength ${maxLength}`);
        for (const c of captions) {
          const t = c.tokens;
          assert.ok(t.length >= 1 && t.length <= maxLength, `${c.text} (max ${maxLength})`);
          assert.ok(!dangling.has(t[t.length - 1]), `ends dangling: ${c.text}`);
          const grams = t.slice(2).map((_, i) => t.slice(i, i + 3).join(' '));
          assert.equal(new Set(grams).size, grams.length, `repeats a trigram: ${c.text}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 400);
});

test('greedy search is beam search of width 1, rules included', async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const table = randomTable(seed);
    const viaBeam = await search(table, { beam: 1 });
    const direct = await greedySearch(new ToyDecoder([table]), images(0), toyVocabulary, {});
    assert.deepEqual(viaBeam, direct);
  }
});

test('the dangling words map to ids once per vocabulary', () => {
  const vocabulary = new Vocabulary({
    version: 1,
    minCount: 1,
    tokens: ['<pad>', '<start>', '<end>', '<unk>', 'dog', 'with', 'a', 'up', 'the'],
    counts: [0, 0, 0, 0, 1, 1, 1, 1, 1],
  });
  const ids = danglingIds(vocabulary);
  assert.deepEqual([...ids].sort(), [5, 6, 8]);
  assert.equal(danglingIds(vocabulary), ids, 'cached');
  for (const w of ['a', 'an', 'the', 'with', 'of', 'in', 'on', 'and', 'to', 'is', 'are'])
    assert.ok(DANGLING_WORDS.includes(w), w);
  for (const w of ['up', 'down', 'outside', 'together', 'her']) assert.ok(!DANGLING_WORDS.includes(w), w);
});

test('captionProblems names what a printed caption breaks', () => {
  assert.deepEqual(captionProblems('a dog runs through the grass'), {});
  assert.deepEqual(captionProblems('a woman in a white shirt and a woman in a white shirt'), {
    repeatedTrigram: 'a woman in',
  });
  assert.deepEqual(captionProblems('a man in a'), { danglingEnd: 'a' });
  assert.deepEqual(captionProblems("a girl holds the dog's"), { danglingEnd: "dog's" });
  assert.deepEqual(captionProblems('one two three four', 3), { tooLong: 4 });
});
