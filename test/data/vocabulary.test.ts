import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { END, PAD, START, UNK, Vocabulary } from '../../src/data/vocabulary.js';

const captions = [
  ['a', 'dog', 'runs'],
  ['a', 'dog', 'jumps'],
  ['a', 'cat', 'runs'],
  ['the', 'cat'],
];

test('keeps words seen at least minCount times, most frequent first, ties alphabetical', () => {
  const vocab = Vocabulary.build(captions, 2);
  assert.deepEqual(vocab.tokens, ['<pad>', '<start>', '<end>', '<unk>', 'a', 'cat', 'dog', 'runs']);
  assert.equal(vocab.size, 8);
  assert.equal(vocab.wordCount, 4);
  assert.deepEqual(vocab.encode(['a', 'dog', 'jumps']), [4, 6, UNK]);
});

test('ids are stable whatever the caption order', () => {
  const a = Vocabulary.build(captions, 1);
  const b = Vocabulary.build([...captions].reverse(), 1);
  assert.deepEqual(a.tokens, b.tokens);
});

test('decoding drops specials and stops at the end marker', () => {
  const vocab = Vocabulary.build(captions, 2);
  assert.equal(vocab.decode([START, 4, UNK, 6, PAD, 7, END, 5]), 'a dog runs');
});

test('a word that looks like a special token never becomes one', () => {
  const vocab = Vocabulary.build([['<end>', '<end>', 'x']], 1);
  assert.deepEqual(vocab.tokens, ['<pad>', '<start>', '<end>', '<unk>', 'x']);
});

test('save and load round-trip; a broken file is a clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-'));
  const vocab = Vocabulary.build(captions, 1);
  await vocab.save(join(dir, 'vocab.json'));
  const loaded = await Vocabulary.load(join(dir, 'vocab.json'));
  assert.deepEqual(loaded.toJSON(), vocab.toJSON());
  await writeFile(join(dir, 'bad.json'), '{"version": 1, "tokens": ["a"], "counts": [0]}');
  await assert.rejects(Vocabulary.load(join(dir, 'bad.json')), /id 0 must be <pad>/);
  await assert.rejects(Vocabulary.load(join(dir, 'missing.json')), /cannot read vocabulary/);
});

test('a lone "s" left by cleaning is joined back as a possessive', () => {
  const vocab = Vocabulary.build([['a', 'dog', 's', 'ball']], 1);
  assert.equal(vocab.decode(vocab.encode(['a', 'dog', 's', 'ball'])), "a dog's ball");
  assert.equal(vocab.decode(vocab.encode(['s', 'dog'])), 's dog');
});
