import assert from 'node:assert/strict';
import { test } from 'node:test';
import { END, PAD, START, UNK } from '../../src/data/vocabulary.js';
import { beamSearch } from '../../src/decode/beam-search.js';
import { greedySearch } from '../../src/decode/greedy.js';
import { images, ToyDecoder, toyVocabulary, type Table } from '../helpers/toy-decoder.js';

const close = (actual: number, expected: number, eps = 1e-5) =>
  assert.ok(Math.abs(actual - expected) < eps, `${actual} is not ${expected} ± ${eps}`);

// Greedy takes "a" (0.35 > 0.25, <unk> at 0.40 is never allowed), then "dog" (0.4): P = 0.35·0.4 = 0.14.
// Beam 2 keeps "the" too, and "the dog" = 0.25·0.9 = 0.225 beats every extension of "a"
// ("a dog" 0.14, "a cat" 0.105, "a big" 0.105).
const FORK: Table = {
  '<start>': { '<unk>': 0.4, a: 0.35, the: 0.25 },
  a: { dog: 0.4, cat: 0.3, big: 0.3 },
  the: { dog: 0.9, '<end>': 0.1 },
  big: { dog: 1 },
  dog: { '<end>': 1 },
  cat: { '<end>': 1 },
};

test('greedy and beam search differ where hand-checked', async () => {
  const greedy = await beamSearch(new ToyDecoder([FORK]), images(0), toyVocabulary, { beam: 1 });
  assert.equal(greedy[0].length, 1);
  assert.equal(greedy[0][0].text, 'a dog');
  close(greedy[0][0].logProb, Math.log(0.14));

  const beam = await beamSearch(new ToyDecoder([FORK]), images(0), toyVocabulary, { beam: 2 });
  assert.deepEqual(
    beam[0].map((c) => c.text),
    ['the dog', 'a dog'],
  );
  close(beam[0][0].score, Math.log(0.225));
  close(beam[0][1].score, Math.log(0.14));
  assert.deepEqual(beam[0][0].tokens, toyVocabulary.encode(['the', 'dog']));
});

test('never emits <unk>, <pad> or <start>, even when they are the most likely', async () => {
  const table: Table = {
    '<start>': { '<unk>': 0.5, '<pad>': 0.2, '<start>': 0.1, dog: 0.2 },
    dog: { '<unk>': 0.6, '<start>': 0.2, '<end>': 0.2 },
  };
  for (const beam of [1, 3]) {
    const [captions] = await beamSearch(new ToyDecoder([table]), images(0), toyVocabulary, {
      beam,
      maxLength: 5,
    });
    for (const c of captions)
      for (const t of c.tokens) assert.ok(![PAD, START, UNK, END].includes(t), `emitted ${t}`);
    assert.equal(captions[0].text, 'dog');
  }
});

// Length normalisation: "a" = 0.6·0.7 = 0.42 over 2 tokens (word + end), "the big dog" = 0.4 over 4.
// α = 0: ln 0.42 = -0.868 beats ln 0.4 = -0.916. α = 1: -0.868/2 = -0.434 loses to -0.916/4 = -0.229.
const SHORT_OR_LONG: Table = {
  '<start>': { a: 0.6, the: 0.4 },
  a: { '<end>': 0.7, dog: 0.3 },
  the: { big: 1 },
  big: { dog: 1 },
  dog: { '<end>': 1 },
};

test('length normalisation α changes which caption wins', async () => {
  // "a" is a dangling word: the bad-ending rule is off here to keep the one-word caption in play.
  const plain = await beamSearch(new ToyDecoder([SHORT_OR_LONG]), images(0), toyVocabulary, {
    beam: 2,
    badEndings: false,
  });
  assert.equal(plain[0][0].text, 'a');
  close(plain[0][0].score, Math.log(0.42));
  const normalised = await beamSearch(new ToyDecoder([SHORT_OR_LONG]), images(0), toyVocabulary, {
    beam: 2,
    lengthPenalty: 1,
    badEndings: false,
  });
  assert.equal(normalised[0][0].text, 'the big dog');
  close(normalised[0][0].score, Math.log(0.4) / 4);
  close(normalised[0][0].logProb, Math.log(0.4));
});

// "a dog a dog …": after "dog", "a" (0.6) beats the end (0.4).
const LOOP: Table = {
  '<start>': { a: 1 },
  a: { dog: 1 },
  dog: { a: 0.6, '<end>': 0.4 },
};

test('stops at maxLength; trigram blocking stops a loop', async () => {
  for (const beam of [1, 2]) {
    const loop = await beamSearch(new ToyDecoder([LOOP]), images(0), toyVocabulary, {
      beam,
      maxLength: 6,
      blockTrigrams: false,
    });
    // Beam 2 finds shorter ones with a better sum: "a dog" = 0.4 beats everything longer.
    assert.equal(loop[0][0].text, beam === 1 ? 'a dog a dog a dog' : 'a dog');
  }
  // Greedy with blocking: "a dog a dog" holds the trigrams "a dog a" and "dog a dog"; another "a" would
  // repeat "a dog a", so it is blocked and the end marker (0.4) follows: P = 1·1·0.6·1·0.4 = 0.24.
  const blocked = await greedySearch(new ToyDecoder([LOOP]), images(0), toyVocabulary, {
    maxLength: 10,
    blockTrigrams: true,
  });
  assert.equal(blocked[0][0].text, 'a dog a dog');
  close(blocked[0][0].logProb, Math.log(0.6 * 0.4));
});

test('batched over images equals one image at a time, with one step call per time step', async () => {
  const tables = [FORK, SHORT_OR_LONG, LOOP];
  for (const options of [
    { beam: 1, blockTrigrams: false, badEndings: false },
    { beam: 2, blockTrigrams: false, badEndings: false },
    { beam: 1 },
    { beam: 3, lengthPenalty: 0.7 },
  ]) {
    const batchDecoder = new ToyDecoder(tables);
    const batch = await beamSearch(batchDecoder, images(0, 1, 2, 1), toyVocabulary, {
      ...options,
      maxLength: 8,
    });
    const singleSteps: number[] = [];
    for (const [i, t] of [0, 1, 2, 1].entries()) {
      const decoder = new ToyDecoder(tables);
      const [alone] = await beamSearch(decoder, images(t), toyVocabulary, { ...options, maxLength: 8 });
      assert.deepEqual(batch[i], alone, `image ${i}, ${JSON.stringify(options)}`);
      singleSteps.push(decoder.stepRows.length);
    }
    // The batch runs as many steps as its longest image, each over every live row.
    assert.equal(batchDecoder.stepRows.length, Math.max(...singleSteps));
  }
});

test('returns the requested number of captions, best first', async () => {
  const [captions] = await beamSearch(new ToyDecoder([FORK]), images(0), toyVocabulary, {
    beam: 3,
    results: 2,
  });
  assert.equal(captions.length, 2);
  assert.ok(captions[0].score >= captions[1].score);
  assert.deepEqual(await beamSearch(new ToyDecoder([FORK]), [], toyVocabulary), []);
  await assert.rejects(beamSearch(new ToyDecoder([FORK]), images(0), toyVocabulary, { beam: 0 }), /beam/);
});

// Beam 2: at step 2 "a dog" (0.30) and "the dog" (0.27) outrank the endings "a" (0.05) and "the"
// (0.03), which the search drops; both dogs end at step 3.
const DROPPED_ENDINGS: Table = {
  '<start>': { a: 0.5, the: 0.3, big: 0.2 },
  a: { dog: 0.6, cat: 0.3, '<end>': 0.1 },
  the: { dog: 0.9, '<end>': 0.1 },
  dog: { '<end>': 1 },
  cat: { '<end>': 1 },
};

test('keepFinished keeps every caption the search could have ended, for a reranker, with the same search', async () => {
  const options = { beam: 2, badEndings: false };
  const plainDecoder = new ToyDecoder([DROPPED_ENDINGS]);
  const [plain] = await beamSearch(plainDecoder, images(0), toyVocabulary, options);
  assert.deepEqual(
    plain.map((c) => c.text),
    ['a dog', 'the dog'],
  );
  const keptDecoder = new ToyDecoder([DROPPED_ENDINGS]);
  const [kept] = await beamSearch(keptDecoder, images(0), toyVocabulary, {
    ...options,
    keepFinished: 10,
    results: 10,
  });
  assert.deepEqual(
    kept.map((c) => c.text),
    ['a dog', 'the dog', 'a', 'the'],
  );
  close(kept[2].logProb, Math.log(0.05));
  close(kept[3].logProb, Math.log(0.03));
  assert.deepEqual(keptDecoder.stepRows, plainDecoder.stepRows, 'the same decoder steps');
  // No more than asked for, best first; `results` alone still stops at the beam width.
  const [three] = await beamSearch(new ToyDecoder([DROPPED_ENDINGS]), images(0), toyVocabulary, {
    ...options,
    keepFinished: 3,
    results: 3,
  });
  assert.deepEqual(
    three.map((c) => c.text),
    ['a dog', 'the dog', 'a'],
  );
  const [capped] = await beamSearch(new ToyDecoder([DROPPED_ENDINGS]), images(0), toyVocabulary, {
    ...options,
    results: 5,
  });
  assert.equal(capped.length, 2);
});

// Two short captions end early; "the big cat runs" stays live and ends last. With α = 1: "dog" =
// ln 0.48 / 2 = −0.367, "dog runs" = ln 0.32 / 3 = −0.380; "the big cat" is live at ln 0.2 = −1.609:
// −0.402 if it ended at the next step (below −0.380: the default stops), −0.179 over maxLength + 1 = 9
// tokens (the exact bound goes on), and it does end better: ln 0.2 / 5 = −0.322.
const LATE_WINNER: Table = {
  '<start>': { dog: 0.8, the: 0.2 },
  dog: { '<end>': 0.6, runs: 0.4 },
  runs: { '<end>': 1 },
  the: { big: 1 },
  big: { cat: 1 },
  cat: { runs: 1 },
};

test('beam search stops once no live hypothesis beats the k-th caption at its next step; `exhaustive` searches on', async () => {
  const options = { beam: 2, lengthPenalty: 1, maxLength: 8 };
  const early = new ToyDecoder([LATE_WINNER]);
  const [quick] = await beamSearch(early, images(0), toyVocabulary, options);
  assert.deepEqual(
    quick.map((c) => c.text),
    ['dog', 'dog runs'],
  );
  assert.equal(early.stepRows.length, 3);
  const full = new ToyDecoder([LATE_WINNER]);
  const [exact] = await beamSearch(full, images(0), toyVocabulary, { ...options, exhaustive: true });
  assert.deepEqual(
    exact.map((c) => c.text),
    ['the big cat runs', 'dog'],
  );
  close(exact[0].score, Math.log(0.2) / 5);
  assert.equal(full.stepRows.length, 5);
  // With α = 0 a sum only falls as a caption grows: both stop at the same, exact point.
  for (const exhaustive of [false, true]) {
    const decoder = new ToyDecoder([LATE_WINNER]);
    const [plain] = await beamSearch(decoder, images(0), toyVocabulary, { beam: 2, exhaustive });
    assert.deepEqual(
      plain.map((c) => c.text),
      ['dog', 'dog runs'],
    );
    assert.equal(decoder.stepRows.length, 3);
  }
});
