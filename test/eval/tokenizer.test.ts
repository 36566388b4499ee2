import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cocoTokenize, ptbTokenize } from '../../src/eval/ptb-tokenizer.js';

const coco = (s: string) => cocoTokenize(s).join(' ');

test('lower-cases and drops coco’s punctuation', () => {
  assert.equal(coco('A Dog runs, jumps; and barks!'), 'a dog runs jumps and barks');
  assert.equal(coco('Is it a dog? Yes: a dog ... -- - .'), 'is it a dog yes a dog');
  assert.equal(coco('A girl going into a wooden building .'), 'a girl going into a wooden building');
});

test('splits clitics PTB-style', () => {
  assert.equal(coco("The dog's ball"), "the dog 's ball");
  assert.equal(coco("They don't know"), "they do n't know");
  assert.equal(
    coco("they're here, I'm there, we've been, you'll see, he'd go"),
    "they 're here i 'm there we 've been you 'll see he 'd go",
  );
  assert.equal(coco("can't won't isn't"), "ca n't wo n't is n't");
  assert.equal(coco('cannot gonna'), 'can not gon na');
  // Flickr8k's references are already split this way; they must come out the same.
  assert.equal(coco("a dog 's ball do n't"), "a dog 's ball do n't");
  // Curly apostrophes count as apostrophes.
  assert.equal(coco('the dog’s ball isn’t red'), "the dog 's ball is n't red");
});

test('keeps hyphenated words, numbers, abbreviations and apostrophe words whole', () => {
  assert.equal(coco('A tri-colored 4-wheeler'), 'a tri-colored 4-wheeler');
  assert.equal(coco('3.5 miles, 1,000 people at 10:30'), '3.5 miles 1,000 people at 10:30');
  assert.equal(coco('Mr. Smith in D.C.'), 'mr. smith in d.c.');
  assert.equal(coco("an ant 's-eye-view at -5 degrees"), "an ant 's eye-view at -5 degrees");
  assert.equal(coco("slip 'n' slide at five o'clock"), "slip 'n' slide at five o'clock");
});

test('quotes are dropped; possessive plurals lose their apostrophe', () => {
  assert.equal(coco('a sign that says "free hugs"'), 'a sign that says free hugs');
  assert.equal(coco("a ' devil ' outfit"), 'a devil outfit');
  assert.equal(coco("the boys' football"), 'the boys football');
  assert.deepEqual(ptbTokenize('"hi"'), ["''", 'hi', "''"]);
});

test('coco quirks: brackets survive as -lrb- (the filter lists them upper case); "!!" is kept', () => {
  assert.deepEqual(ptbTokenize('a dog (brown)'), ['a', 'dog', '-LRB-', 'brown', '-RRB-']);
  assert.equal(coco('a dog (brown)'), 'a dog -lrb- brown -rrb-');
  assert.equal(coco('wow!! a dog!'), 'wow !! a dog');
});

test('symbols are their own tokens and are kept', () => {
  assert.equal(coco('#1 at 50% & $5'), '# 1 at 50 % & $ 5');
  assert.equal(coco('AT&T'), 'at&t');
});

test('empty and punctuation-only captions give no tokens', () => {
  assert.deepEqual(cocoTokenize(''), []);
  assert.deepEqual(cocoTokenize(' . , ! '), []);
});
