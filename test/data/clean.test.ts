import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanCaption, DEFAULT_CLEANING } from '../../src/data/clean.js';

test('lower-cases, drops punctuation and digits, keeps "a"', () => {
  assert.deepEqual(cleanCaption('A Dog runs through 2 fields, happily !'), [
    'a',
    'dog',
    'runs',
    'through',
    'fields',
    'happily',
  ]);
});

test('punctuation splits words by default and joins them in tutorial mode', () => {
  assert.deepEqual(cleanCaption('A tri-colored dog'), ['a', 'tri', 'colored', 'dog']);
  assert.deepEqual(cleanCaption('A tri-colored dog', { ...DEFAULT_CLEANING, punctuation: 'remove' }), [
    'a',
    'tricolored',
    'dog',
  ]);
});

test('options are explicit: digits, case and one-letter words', () => {
  const tutorial = { lowercase: true, punctuation: 'remove' as const, dropDigits: true, minWordLength: 2 };
  assert.deepEqual(cleanCaption('A man in a 3rd place', tutorial), ['man', 'in', 'place']);
  assert.deepEqual(cleanCaption('A man in 3rd place', { ...DEFAULT_CLEANING, dropDigits: false }), [
    'a',
    'man',
    'in',
    '3rd',
    'place',
  ]);
  assert.deepEqual(cleanCaption('A Man', { ...DEFAULT_CLEANING, lowercase: false }), ['A', 'Man']);
});

test('a caption of only punctuation and numbers cleans to nothing', () => {
  assert.deepEqual(cleanCaption(' 12 . , ! '), []);
});
