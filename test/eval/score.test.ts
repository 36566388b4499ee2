import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { leaveOneOut } from '../../src/eval/references.js';
import { formatScores, scoreCaptions } from '../../src/eval/score.js';
import { runCli } from '../helpers/cli.js';
import { makeFlickrFixture, tokenLines } from '../helpers/flickr-fixture.js';

test('scoreCaptions tokenizes both sides like coco before scoring', () => {
  const scores = scoreCaptions(
    new Map([
      ['1.jpg', 'A dog runs on the grass.'],
      ['2.jpg', 'A cat sleeps on a mat!'],
    ]),
    new Map([
      ['1.jpg', ['a dog runs on the grass', 'A brown dog is running .']],
      ['2.jpg', ['A cat sleeps on a mat .', 'a kitten naps']],
      ['3.jpg', ['not scored']],
    ]),
  );
  assert.ok(Math.abs(scores.bleu4 - 1) < 1e-8);
  assert.ok(Math.abs(scores.rougeL - 1) < 1e-12);
  assert.ok(scores.ciderD > 0);
  assert.equal(scores.images, 2);
  assert.equal(scores.distinct, 2);
});

test('distinct counts captions after tokenization; missing references are an error', () => {
  const refs = new Map([
    ['1.jpg', ['a dog']],
    ['2.jpg', ['a dog']],
  ]);
  const scores = scoreCaptions(
    new Map([
      ['1.jpg', 'A dog.'],
      ['2.jpg', 'a dog'],
    ]),
    refs,
  );
  assert.equal(scores.distinct, 1);
  assert.throws(() => scoreCaptions(new Map([['9.jpg', 'a dog']]), refs), /no reference captions for 9\.jpg/);
  assert.throws(() => scoreCaptions(new Map(), refs), /no captions/);
});

test('the table prints ×100', () => {
  const text = formatScores({
    bleu1: 0.5,
    bleu2: 0.4,
    bleu3: 0.3,
    bleu4: 0.177,
    rougeL: 0.4,
    ciderD: 0.46,
    distinct: 3,
    images: 4,
  });
  assert.match(text, /BLEU-4\s+17\.7/);
  assert.match(text, /CIDEr-D\s+46\.0/);
  assert.match(text, /distinct captions 3 \(75\.0%\)/);
});

test('leaveOneOut makes reference k the candidate', () => {
  const { candidates, references } = leaveOneOut(
    new Map([
      ['1.jpg', ['a', 'b', 'c']],
      ['2.jpg', ['x']],
    ]),
    1,
  );
  assert.deepEqual([...candidates], [['1.jpg', 'b']]);
  assert.deepEqual([...references], [['1.jpg', ['a', 'c']]]);
});

test('captioner score: a captions file against the references of a split', async () => {
  const images = ['1.jpg', '2.jpg', '3.jpg'];
  const data = await makeFlickrFixture({
    captionLines: [
      ...tokenLines('1.jpg', ['A dog runs .', 'A brown dog runs on grass .']),
      ...tokenLines('2.jpg', ['A cat sleeps .', 'A kitten naps on a mat .']),
      ...tokenLines('3.jpg', ['Two birds fly .', 'Birds in the sky .']),
    ],
    splits: { train: ['3.jpg'], dev: [], test: ['1.jpg', '2.jpg'] },
    images,
  });
  const dir = await mkdtemp(join(tmpdir(), 'captioner-score-'));
  const file = join(dir, 'c.json');
  await writeFile(
    file,
    JSON.stringify([
      { image: '1.jpg', caption: 'a dog runs' },
      { image: '2.jpg', caption: 'a cat sleeps' },
    ]),
  );
  const json = await runCli(['score', '--captions', file, '--data', data, '--split', 'test', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const scores = JSON.parse(json.stdout);
  assert.equal(scores.images, 2);
  assert.ok(scores.bleu1 > 0.99);
  const table = await runCli(['score', '--captions', file, '--data', data, '--split', 'test']);
  assert.match(table.stdout, /BLEU-4/);
  assert.match(table.stdout, /distinct captions 2/);

  await writeFile(file, JSON.stringify([{ image: '3.jpg', caption: 'birds' }]));
  const wrong = await runCli(['score', '--captions', file, '--data', data, '--split', 'test']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /not in the test split/);

  const human = await runCli(['score', '--human', '1', '--data', data, '--split', 'test', '--json']);
  assert.equal(human.code, 0, human.stderr);
  assert.equal(JSON.parse(human.stdout).images, 2);
});
